"""Where the CLI finds the deployment: ``HELPLINE_*`` variables, like the services."""

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from helpline_shared.kafka_security import KafkaClientSettings

SERVICES = ("intake", "routing", "escalation", "notify", "identity")


class CliSettings(KafkaClientSettings):
    """The deployment the CLI talks to (defaults: ``make run`` on this machine)."""

    model_config = SettingsConfigDict(env_prefix="HELPLINE_", extra="ignore")

    topic_prefix: str = ""
    token: SecretStr | None = Field(
        default=None, description="API key or access token the CLI calls the services with"
    )
    operator_key: SecretStr | None = Field(
        default=None, description="The deployment operator key (tenants commands)"
    )
    intake_url: str = "http://127.0.0.1:8080"
    routing_url: str = "http://127.0.0.1:8081"
    escalation_url: str = "http://127.0.0.1:8082"
    notify_url: str = "http://127.0.0.1:8083"
    identity_url: str = "http://127.0.0.1:8084"
    intake_database_url: str | None = None
    routing_database_url: str | None = None
    escalation_database_url: str | None = None
    notify_database_url: str | None = None
    identity_database_url: str | None = None
    timeout: float = 10.0

    def service_url(self, service: str) -> str:
        """Base URL of ``service``'s HTTP API."""
        url: str = getattr(self, f"{service}_url")
        return url.rstrip("/")

    def configured_services(self) -> list[str]:
        """The services whose URL the operator set (``doctor`` checks their ``/readyz``)."""
        return [service for service in SERVICES if f"{service}_url" in self.model_fields_set]

    def database_url(self, service: str) -> str | None:
        """The database URL of ``service``, when the operator gave it."""
        url: str | None = getattr(self, f"{service}_database_url")
        return url

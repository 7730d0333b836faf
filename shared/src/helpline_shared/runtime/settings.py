"""Settings every service shares; each service's ``config.py`` extends this one class."""

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Read from ``HELPLINE_*`` environment variables; invalid values fail at start."""

    model_config = SettingsConfigDict(env_prefix="HELPLINE_", extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    data_dir: Path = Path(".helpline")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default: a SQLite file per service under data_dir",
    )
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)
    http_max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024,
        description="Largest request body of a route that sets no limit of its own (413 above)",
    )
    migrate_on_start: bool = Field(
        default=True, description="Apply pending database migrations before serving"
    )
    token_secret: SecretStr = SecretStr("helpline-dev-secret-change-me")
    topic_prefix: str = Field(
        default="",
        pattern=r"^[a-zA-Z0-9._-]*$",
        description="Prefix of every topic name (separates environments or test runs on a cluster)",
    )
    relay_enabled: bool = Field(
        default=True, description="Publish the outbox (turned off only to inject faults in tests)"
    )
    relay_poll_interval: float = Field(default=0.5, gt=0)
    consumer_batch_size: int = Field(
        default=100, ge=1, le=10_000,
        description="Most records a consumer takes from Kafka at once (offsets commit per batch)",
    )
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    shutdown_timeout: float = Field(default=20.0, gt=0)

    def resolved_database_url(self, service: str) -> str:
        """The configured database URL, or the embedded SQLite file of ``service``."""
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{service}.db').resolve()}"

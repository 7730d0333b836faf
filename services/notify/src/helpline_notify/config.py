"""Notify's settings: one class, read from ``HELPLINE_*`` variables."""

from pydantic import Field, SecretStr

from helpline_shared.runtime.settings import ServiceSettings
from helpline_shared.topics import PARTITIONS


class NotifySettings(ServiceSettings):
    """Settings of the notify service."""

    http_port: int = Field(default=8083, ge=1, le=65535)
    max_page_size: int = Field(default=100, ge=1)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=2526, ge=1, le=65535)
    smtp_max_sessions: int = Field(
        default=16,
        ge=1,
        description="SMTP sessions kept open to the mail server (each mail takes four round "
        "trips on one; mail beyond them waits for a free one)",
    )
    mail_from: str = Field(
        default="Helpline <notifications@helpline.test>", description="From header of our mail"
    )
    email_domain: str = Field(
        default="helpline.test", description="Right-hand side of the Message-IDs we generate"
    )
    reply_token_secret: SecretStr | None = Field(
        default=None,
        description="Signs the support+<token> Reply-To of mail to agents about a ticket: the "
        "same value as intake's. Unset: agent mail carries the plain mailbox",
    )
    intake_url: str = Field(
        default="http://127.0.0.1:8080",
        description="Where the files of a person's reply are read (intake)",
    )
    intake_service_key: SecretStr | None = Field(
        default=None,
        description="Notify's service key (identity's POST /v1/service-keys, scope tickets:read) "
        "to read attachments at intake; without it a reply with files fails",
    )
    attachment_max_bytes: int = Field(
        default=25 * 1024 * 1024, ge=1, description="Bytes one attached file may have"
    )
    escalation_email: str = Field(
        default="escalations@helpline.test",
        description="Who hears of an SLA breach on a ticket that has no assignee yet",
    )
    webhook_allow_private_networks: bool = Field(
        default=False,
        description="Let webhooks reach private, loopback and link-local addresses (development)",
    )
    delivery_timeout: float = Field(
        default=15.0, gt=0, description="Seconds one email or webhook attempt may take in all"
    )
    delivery_batch_size: int = Field(default=50, ge=1)
    delivery_max_in_flight: int = Field(default=200, ge=1)
    delivery_poll_interval: float = Field(default=0.5, gt=0)
    delivery_max_per_destination: int = Field(
        default=8, ge=1, description="Sends under way to one endpoint or address at a time"
    )
    recipient_rate_cap: int = Field(
        default=20, ge=1, description="Emails one address may get per window (loop guard)"
    )
    recipient_rate_window: float = Field(default=3600.0, gt=0, description="Seconds")
    endpoint_disable_after: float = Field(
        default=5 * 24 * 3600.0,
        gt=0,
        description="Seconds an endpoint may fail every attempt before it is disabled",
    )
    secret_rotation_overlap: float = Field(
        default=24 * 3600.0, ge=0, description="Seconds the old secret still signs after rotation"
    )
    template_render_timeout: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="Seconds one email's templates may take to render; longer ones fail it",
    )
    template_max_output_bytes: int = Field(
        default=1_000_000,
        ge=1_000,
        le=50_000_000,
        description="Bytes one email's rendered subject, text and HTML may add up to",
    )
    template_render_workers: int = Field(
        default=2,
        ge=1,
        le=32,
        description="Processes rendering templates side by side",
    )
    ledger_retention_days: float = Field(default=30.0, gt=0)
    retention_interval: float = Field(default=3600.0, gt=0, description="Seconds between purges")
    partner_stream_enabled: bool = Field(
        default=True, description="Republish each tenant's public events to its partner topic"
    )
    partner_stream_partitions: int = Field(
        default=PARTITIONS, ge=1, description="Of a new partner topic"
    )
    partner_stream_replication_factor: int = Field(
        default=1, ge=1, description="Of a new partner topic (3 on a production cluster)"
    )
    partner_stream_retention_ms: int = Field(
        default=7 * 24 * 3600 * 1000, ge=-1, description="Of a new partner topic (-1: forever)"
    )

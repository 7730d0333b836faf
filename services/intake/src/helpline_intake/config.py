"""Intake's settings: one class, read from ``HELPLINE_*`` variables."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from helpline_shared.runtime.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """Settings of the intake service."""

    http_port: int = Field(default=8080, ge=1, le=65535)
    max_page_size: int = 100
    # HELPLINE_SMTP_PORT is where services send mail; intake's own server has its own names.
    smtp_server_enabled: bool = True
    smtp_server_host: str = "127.0.0.1"
    smtp_server_port: int = Field(default=2525, ge=1, le=65535)
    smtp_server_protocol: Literal["smtp", "lmtp"] = "smtp"
    max_message_size: int = Field(
        default=25 * 1024 * 1024, ge=1024, description="Largest mail accepted, in bytes (552 above)"
    )
    max_attachment_size: int = Field(
        default=10 * 1024 * 1024, ge=1, description="Largest file attached over the API"
    )
    attachments_dir: Path | None = Field(
        default=None, description="Where attachments are stored; default data_dir/attachments"
    )
    parse_timeout: float = Field(default=30.0, gt=0)
    imap_poll_interval: float = Field(default=30.0, gt=0)
    imap_batch_size: int = Field(default=50, ge=1, le=1000)
    pending_sweep_interval: float = Field(default=10.0, gt=0)
    domain_verification: Literal["dns", "trust"] = Field(
        default="dns",
        description="How a tenant proves a mail domain: dns (a TXT record) or "
        "trust (local development only: every claim is believed)",
    )
    imap_allow_private_networks: bool = Field(
        default=False,
        description="Let IMAP mailboxes be on loopback or private addresses "
        "(local development and tests only)",
    )
    imap_allow_plaintext: bool = Field(
        default=False,
        description="Let IMAP mailboxes without IMAPS or STARTTLS be read "
        "(local development and tests only)",
    )

    reply_token_secret: SecretStr | None = Field(
        default=None,
        description="Secret of agents' signed reply addresses "
        "(support+<token>@domain): the same value as notify's. Unset: "
        "no mail acts as an agent",
    )

    def resolved_attachments_dir(self) -> Path:
        """The attachment directory (created on first use)."""
        return self.attachments_dir or self.data_dir / "attachments"

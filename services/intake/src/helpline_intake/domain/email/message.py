"""An inbound mail as intake understands it, independent of any parser."""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Attachment:
    """A file carried by a mail (or an API message): its bytes and what it claims to be."""

    filename: str
    content_type: str
    data: bytes
    inline: bool = False
    content_id: str | None = None


@dataclass(frozen=True)
class BouncedRecipient:
    """One recipient a delivery status notification reports on."""

    address: str
    action: str
    status: str | None
    diagnostic: str | None

    @property
    def permanent(self) -> bool:
        """A 5.x.x status (or a failed action without status) is a hard bounce."""
        if self.status:
            return self.status.startswith("5")
        return self.action == "failed"


@dataclass(frozen=True)
class Bounce:
    """What a ``multipart/report; report-type=delivery-status`` says."""

    recipients: tuple[BouncedRecipient, ...]
    original_message_id: str | None


@dataclass(frozen=True)
class InboundEmail:
    """The parts of a mail that threading, loop detection and ticket creation need."""

    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    from_address: str | None
    from_name: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime | None
    text: str
    html: str | None
    headers: dict[str, str]
    """Lower-cased names of the headers loop detection reads, with their values."""
    attachments: tuple[Attachment, ...] = ()
    bounce: Bounce | None = None
    language: str | None = None
    defects: tuple[str, ...] = field(default=())

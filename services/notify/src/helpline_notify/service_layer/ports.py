"""What the delivery worker needs from the outside world, named by capability."""

import collections
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from helpline_notify.domain.model import Delivery, WebhookEndpoint
from helpline_notify.domain.templates import EmailContent, TemplateSource


@dataclass(frozen=True)
class MailAttachment:
    """A file sent with an email."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class OutboundEmail:
    """One system email, ready to hand to a mail server."""

    message_id: str
    """With angle brackets, e.g. ``<id@helpline.test>``."""
    to: str
    subject: str
    text: str
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    """Threading and auto-submission headers besides Message-ID."""
    attachments: tuple[MailAttachment, ...] = ()


@dataclass(frozen=True)
class WebhookRequest:
    """One webhook call: where, which message (stable across retries), what, signed with what."""

    url: str
    message_id: str
    body: str
    secret: str
    extra_secrets: tuple[str, ...] = ()
    """Older secrets still valid during a rotation: the request is signed with each too."""


@dataclass(frozen=True)
class WebhookResponse:
    """What the endpoint answered."""

    status_code: int
    retry_after: timedelta | None = None
    excerpt: str | None = None
    """The start of the response body, for the ledger."""


class Mailer(Protocol):
    """Sends email; raises ``DeliveryAttemptFailed`` when the mail server does not accept it."""

    async def send(self, email: OutboundEmail) -> None:
        """Hand ``email`` to the mail server."""


class AttachmentSource(Protocol):
    """Reads a message's attached file where it is kept; raises ``DeliveryAttemptFailed``."""

    async def fetch(
        self, tenant_id: str, ticket_id: str, message_id: str, attachment_id: str
    ) -> bytes:
        """The bytes of the attachment."""


class WebhookSender(Protocol):
    """Calls webhook endpoints; raises ``DeliveryAttemptFailed`` when no answer comes back."""

    async def send(self, request: WebhookRequest) -> WebhookResponse:
        """Sign and POST ``request``; return the endpoint's answer, whatever its status."""


class TemplateRenderer(Protocol):
    """Renders tenant-editable templates sandboxed and bounded; raises ``InvalidTemplate``."""

    async def check(self, source: TemplateSource, sample: dict[str, Any]) -> None:
        """Raise ``InvalidTemplate`` if a part does not compile or fails on ``sample``."""

    async def render(self, source: TemplateSource, context: dict[str, Any]) -> EmailContent:
        """The rendered email (too slow or too large: ``InvalidTemplate``)."""


class Held(collections.Counter[str]):
    """What one transaction leased to the worker, per destination (and in ``channels``, per
    channel)."""

    def __init__(self) -> None:
        super().__init__()
        self.channels: collections.Counter[str] = collections.Counter()


class DeliveryHandOff(Protocol):
    """The delivery worker as the consumer's transaction sees it: it leases what it has room to
    send at once, then takes it when the transaction has committed (no claim round)."""

    def lease(self, delivery: Delivery, held: Held) -> bool:
        """Lease the just-queued ``delivery`` to this process if it has a free slot for it
        (``held``: what this transaction leased already, per destination); True if it did."""

    def take(self, leased: Sequence[tuple[Delivery, WebhookEndpoint | None]]) -> None:
        """Send deliveries this process leased in a transaction that has committed."""

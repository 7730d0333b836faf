"""What the delivery worker needs from the outside world, named by capability."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol


@dataclass(frozen=True)
class OutboundEmail:
    """One system email, ready to hand to a mail server."""

    message_id: str
    """With angle brackets, e.g. ``<id@helpline.test>``."""
    to: str
    subject: str
    text: str


@dataclass(frozen=True)
class WebhookRequest:
    """One webhook call: where, which message (stable across retries), what, signed with what."""

    url: str
    message_id: str
    body: str
    secret: str


@dataclass(frozen=True)
class WebhookResponse:
    """What the endpoint answered."""

    status_code: int
    retry_after: timedelta | None = None


class Mailer(Protocol):
    """Sends email; raises ``DeliveryAttemptFailed`` when the mail server does not accept it."""

    async def send(self, email: OutboundEmail) -> None:
        """Hand ``email`` to the mail server."""


class WebhookSender(Protocol):
    """Calls webhook endpoints; raises ``DeliveryAttemptFailed`` when no answer comes back."""

    async def send(self, request: WebhookRequest) -> WebhookResponse:
        """Sign and POST ``request``; return the endpoint's answer, whatever its status."""

"""In-memory stand-ins for the mail server and webhook endpoints, for tests."""

import asyncio
from collections.abc import Callable

from helpline_notify.service_layer.ports import (
    OutboundEmail,
    WebhookRequest,
    WebhookResponse,
)


class FakeMailer:
    """Keeps what it is given; fails while ``failure`` is set."""

    def __init__(self) -> None:
        self.sent: list[OutboundEmail] = []
        self.failure: Exception | None = None
        self.first_sent = asyncio.Event()
        """Set when the first email is recorded: tests await it instead of polling."""

    async def send(self, email: OutboundEmail) -> None:
        """Record ``email`` or raise the configured failure."""
        if self.failure is not None:
            raise self.failure
        self.sent.append(email)
        self.first_sent.set()


class FakeWebhookSender:
    """Answers every webhook by calling ``respond`` (200 by default) and keeps the requests."""

    def __init__(self, respond: Callable[[WebhookRequest], WebhookResponse] | None = None) -> None:
        self.requests: list[WebhookRequest] = []
        self.respond = respond or (lambda _request: WebhookResponse(200))

    async def send(self, request: WebhookRequest) -> WebhookResponse:
        """Record ``request`` and answer it."""
        self.requests.append(request)
        return self.respond(request)

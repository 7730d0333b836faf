"""The SMTP mailer against a real local SMTP server (aiosmtpd)."""

import socket
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from helpline_notify.adapters.smtp import SmtpMailer
from helpline_notify.domain.errors import DeliveryAttemptFailed
from helpline_notify.service_layer.ports import OutboundEmail

EMAIL = OutboundEmail(
    message_id="<n-1@mail.acme.example>",
    to="ann@example.com",
    subject="[#1a2b3c4d] Assigned to you: Printer on fire",
    text="Hello Ann,\n\nticket [#1a2b3c4d] is yours.\n",
)


class Inbox:
    """Accepts mail, except for addresses at refused.example."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.endswith("@refused.example"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.original_content or b"")
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


async def test_mail_carries_message_id_ticket_token_and_auto_submitted(
    smtp_server: tuple[Inbox, int],
) -> None:
    inbox, port = smtp_server
    await SmtpMailer("127.0.0.1", port, "Helpline <notifications@acme.example>").send(EMAIL)

    [raw] = inbox.messages
    message = message_from_bytes(raw)
    assert message["Message-ID"] == "<n-1@mail.acme.example>"
    assert message["Subject"].startswith("[#1a2b3c4d] ")
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["To"] == "ann@example.com"
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes) and b"ticket [#1a2b3c4d] is yours." in body


async def test_refused_recipient_is_a_permanent_failure(smtp_server: tuple[Inbox, int]) -> None:
    _inbox, port = smtp_server
    mailer = SmtpMailer("127.0.0.1", port, "notifications@acme.example")
    refused = OutboundEmail(message_id="<n-2@x>", to="bob@refused.example", subject="s", text="t")
    with pytest.raises(DeliveryAttemptFailed) as failure:
        await mailer.send(refused)
    assert failure.value.permanent


async def test_unreachable_server_is_a_retryable_failure() -> None:
    mailer = SmtpMailer("127.0.0.1", free_port(), "notifications@acme.example", timeout=2.0)
    with pytest.raises(DeliveryAttemptFailed) as failure:
        await mailer.send(EMAIL)
    assert not failure.value.permanent

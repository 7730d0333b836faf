"""A plain mail's envelope is written without re-parsing its (bare) addresses, on one session."""

import dataclasses
from typing import Any

import aiosmtplib.email
import aiosmtplib.smtp
import pytest
from aiosmtpd.controller import Controller
from test_smtp_mailer import EMAIL, Inbox, free_port

from helpline_notify.adapters.smtp import SmtpMailer
from helpline_notify.domain.errors import DeliveryAttemptFailed


class EnvelopeInbox(Inbox):
    """Keeps each accepted envelope, the MAIL options and the sessions' RSETs."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[tuple[str, list[str]]] = []
        self.mail_options: list[list[str]] = []
        self.resets = 0
        self.port = free_port()

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.mail_options.append(options)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RSET(self, server: Any, session: Any, envelope: Any) -> str:
        self.resets += 1
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def inbox() -> Any:
    inbox = EnvelopeInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    yield inbox
    controller.stop()


def _counting_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    parsed: list[str] = []
    original = aiosmtplib.email.parse_address

    def counting(address: str) -> str:
        parsed.append(address)
        return original(address)

    for module in (aiosmtplib.email, aiosmtplib.smtp):
        monkeypatch.setattr(module, "parse_address", counting)
    return parsed


async def test_plain_mails_are_sent_without_parsing_their_addresses_again(
    inbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = _counting_parses(monkeypatch)
    mailer = SmtpMailer("127.0.0.1", inbox.port, "Helpline <notifications@acme.example>")
    for number in range(3):
        await mailer.send(dataclasses.replace(EMAIL, message_id=f"<n-{number}@acme.example>"))
    await mailer.aclose()

    assert parsed == [], "sendmail parsed each address twice per mail"
    assert inbox.envelopes == [("notifications@acme.example", ["ann@example.com"])] * 3
    # RFC 1870: the size declared is the message's, as sendmail declares it.
    assert inbox.mail_options == [[f"SIZE={len(raw)}"] for raw in inbox.messages]


async def test_a_refused_recipient_resets_the_session_for_the_next_mail(inbox: Any) -> None:
    mailer = SmtpMailer("127.0.0.1", inbox.port, "notifications@acme.example", max_sessions=1)
    refused = dataclasses.replace(EMAIL, to="bob@refused.example")

    with pytest.raises(DeliveryAttemptFailed) as failure:
        await mailer.send(refused)
    await mailer.send(EMAIL)
    await mailer.aclose()

    assert failure.value.permanent
    assert failure.value.reason == "SMTP recipient refused (550)"
    assert inbox.resets == 1
    assert inbox.envelopes == [("notifications@acme.example", ["ann@example.com"])]


async def test_an_address_needing_quotes_still_goes_through_sendmail(inbox: Any) -> None:
    mailer = SmtpMailer("127.0.0.1", inbox.port, "notifications@acme.example")
    await mailer.send(dataclasses.replace(EMAIL, to="o'brien@example.com"))
    await mailer.aclose()

    assert inbox.envelopes == [("notifications@acme.example", ["o'brien@example.com"])]

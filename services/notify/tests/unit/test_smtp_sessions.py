"""Many mails in flight share a few SMTP sessions instead of a connection each."""

import asyncio
import dataclasses
from typing import Any

from aiosmtpd.controller import Controller
from test_smtp_mailer import EMAIL, Inbox, free_port

from helpline_notify.adapters.smtp import SmtpMailer


class CountingInbox(Inbox):
    """Counts the SMTP connections it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.connections = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        return responses


async def test_forty_mails_in_flight_use_at_most_max_sessions_connections() -> None:
    inbox, port = CountingInbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mailer = SmtpMailer("127.0.0.1", port, "help@acme.example", max_sessions=3)
        mails = [dataclasses.replace(EMAIL, message_id=f"<n-{n}@acme.example>") for n in range(40)]
        await asyncio.gather(*(mailer.send(mail) for mail in mails))
        await asyncio.gather(*(mailer.send(mail) for mail in mails[:10]))
        await mailer.aclose()
    finally:
        controller.stop()

    assert len(inbox.messages) == 50
    assert inbox.connections <= 3, "mails beyond the sessions wait for one, and all are kept"

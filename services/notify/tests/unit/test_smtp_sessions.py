"""The SMTP mailer reuses its sessions across a batch, and opens a new one when the server has
closed an idle one (against a real local SMTP server, aiosmtpd)."""

from typing import Any

from aiosmtpd.controller import Controller
from test_smtp_mailer import EMAIL, Inbox, free_port

from helpline_notify.adapters.smtp import SmtpMailer


class CountingInbox(Inbox):
    """Counts the sessions that greeted it."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses


async def test_a_batch_of_mail_goes_through_one_session_and_survives_a_restart() -> None:
    inbox, port = CountingInbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    mailer = SmtpMailer("127.0.0.1", port, "notifications@acme.example", timeout=5.0)
    try:
        for _ in range(3):
            await mailer.send(EMAIL)
        assert len(inbox.messages) == 3
        assert inbox.sessions == 1

        controller.stop()  # the idle session is gone with the server
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        await mailer.send(EMAIL)
        assert len(inbox.messages) == 4
        assert inbox.sessions == 2
    finally:
        await mailer.aclose()
        controller.stop()

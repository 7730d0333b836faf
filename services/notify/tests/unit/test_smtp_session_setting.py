"""How many SMTP sessions notify keeps open is a setting (16 by default): against a slow mail
server, mail goes out on that many sessions at once."""

import asyncio
import dataclasses
from typing import Any

from aiosmtpd.controller import Controller
from test_smtp_mailer import EMAIL, free_port
from test_smtp_sessions import CountingInbox

from helpline_notify.bootstrap import smtp_mailer
from helpline_notify.config import NotifySettings


class SlowInbox(CountingInbox):
    """Takes a while to accept each mail, as a busy server does: sessions overlap."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.05)
        return await super().handle_DATA(server, session, envelope)


def test_sixteen_sessions_by_default() -> None:
    assert NotifySettings().smtp_max_sessions == 16


async def test_mail_goes_out_on_as_many_sessions_as_configured() -> None:
    inbox, port = SlowInbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mailer = smtp_mailer(NotifySettings(smtp_port=port, smtp_max_sessions=12))
        mails = [dataclasses.replace(EMAIL, message_id=f"<n-{n}@acme.example>") for n in range(36)]
        await asyncio.gather(*(mailer.send(mail) for mail in mails))
        await mailer.aclose()
    finally:
        controller.stop()

    assert len(inbox.messages) == 36
    assert inbox.connections == 12

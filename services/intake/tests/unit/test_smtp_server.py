"""The LMTP flavour of intake's mail server, in-process on SQLite."""

import asyncio
import smtplib
from pathlib import Path

from helpline_devstack._proc import free_port
from helpline_intake.entrypoints.smtp import smtp_loop
from helpline_intake.testing import intake_on_sqlite, mail


async def test_lmtp_accepts_known_mailboxes_and_stores_before_answering(tmp_path: Path
                                                                        ) -> None:
    async with intake_on_sqlite(tmp_path) as intake:
        port = free_port()
        loop = smtp_loop(intake.processing, host="127.0.0.1", port=port, max_size=100_000,
                         lmtp=True)
        server = asyncio.create_task(loop.run())
        await asyncio.sleep(0.2)

        def deliver() -> dict[str, tuple[int, bytes]]:
            with smtplib.LMTP("127.0.0.1", port) as client:
                return client.send_message(mail(), to_addrs=["support@acme.test",
                                                              "nobody@acme.test"])

        refused = await asyncio.to_thread(deliver)
        async with intake.unit_of_work() as uow:
            stored = await uow.mail.inbound_list(status="pending", tenant_id="acme") + \
                await uow.mail.inbound_list(status="processed", tenant_id="acme")
        await loop.stop()
        await server
    assert refused["nobody@acme.test"][0] == 550
    assert len(stored) == 1

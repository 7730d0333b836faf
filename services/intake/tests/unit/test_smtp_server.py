"""Intake's mail server in-process on SQLite: the LMTP flavour, and logs without addresses."""

import asyncio
import logging
import smtplib
from pathlib import Path

import pytest

from helpline_devstack._proc import free_port
from helpline_intake.entrypoints.smtp import smtp_loop
from helpline_intake.testing import intake_on_sqlite, mail


async def test_lmtp_accepts_known_mailboxes_and_stores_before_answering(tmp_path: Path) -> None:
    async with intake_on_sqlite(tmp_path) as intake:
        port = free_port()
        loop = smtp_loop(
            intake.processing, host="127.0.0.1", port=port, max_size=100_000, lmtp=True
        )
        server = asyncio.create_task(loop.run())
        await asyncio.sleep(0.2)

        def deliver() -> dict[str, tuple[int, bytes]]:
            with smtplib.LMTP("127.0.0.1", port) as client:
                return client.send_message(
                    mail(), to_addrs=["support@acme.test", "nobody@acme.test"]
                )

        refused = await asyncio.to_thread(deliver)
        async with intake.unit_of_work() as uow:
            stored = await uow.mail.inbound_list(
                status="pending", tenant_id="acme"
            ) + await uow.mail.inbound_list(status="processed", tenant_id="acme")
        await loop.stop()
        await server
    assert refused["nobody@acme.test"][0] == 550
    assert len(stored) == 1


async def test_no_envelope_or_header_address_reaches_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # As the service logs at DEBUG (helpline_shared.runtime.telemetry quiets aiosqlite's SQL).
    # (caplog's handler takes the level of the last call: DEBUG.)
    caplog.set_level(logging.WARNING, logger="aiosqlite")
    caplog.set_level(logging.DEBUG, logger="mail.log")
    caplog.set_level(logging.DEBUG)
    sender, customer = "dana.sender@customer.example", "dana.header@customer.example"
    async with intake_on_sqlite(tmp_path) as intake:
        port = free_port()
        loop = smtp_loop(intake.processing, host="127.0.0.1", port=port, max_size=100_000)
        server = asyncio.create_task(loop.run())
        await asyncio.sleep(0.2)

        def deliver() -> dict[str, tuple[int, bytes]]:
            with smtplib.SMTP("127.0.0.1", port) as client:
                client.set_debuglevel(0)
                refused = client.send_message(
                    mail(sender=customer, to="support@acme.test"),
                    from_addr=sender,
                    to_addrs=["support+x@acme.test", "nobody.here@acme.test"],
                )
                client.docmd("VRFY", "someone.else@acme.test")
                client.docmd("BOGUS", "hidden.bogus@acme.test")
                return refused

        refused = await asyncio.to_thread(deliver)
        await loop.stop()
        await server
    assert refused["nobody.here@acme.test"][0] == 550
    logged = "\n".join(
        f"{record.name} {record.getMessage()} {record.__dict__}" for record in caplog.records
    )
    for address in (
        sender,
        customer,
        "support+x@acme.test",
        "nobody.here@acme.test",
        "someone.else@acme.test",
        "hidden.bogus@acme.test",
        "support@acme.test",
    ):
        assert address not in logged, f"{address} was logged"

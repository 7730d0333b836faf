"""Sends settling soon after an outcome write wait for the next one together (one transaction
for the wave), instead of a write each; the first after a quiet spell is written at once."""

import asyncio
from collections.abc import Callable

from notify_batches import worker as delivery_worker
from notify_testkit import (
    UnitOfWorkFactory,
    envelope_of,
    new_ticket_id,
    notify_of,
    ticket_assigned,
    ticket_created,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_notify.adapters.fakes import FakeMailer
from helpline_notify.service_layer.ports import OutboundEmail
from helpline_notify.service_layer.worker import WorkerOptions
from helpline_shared.runtime.testing import StatementLog


class GatedMailer(FakeMailer):
    """Each mail is sent when the test opens its gate (in the order the mails came)."""

    def __init__(self) -> None:
        super().__init__()
        self.gates: list[asyncio.Event] = []

    async def send(self, email: OutboundEmail) -> None:
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        await super().send(email)


async def turns_until(condition: Callable[[], bool], turns: int = 500) -> bool:
    """Let the loop run until ``condition`` holds (at most ``turns`` turns); whether it did."""
    for _ in range(turns):
        if condition():
            return True
        await asyncio.sleep(0)
    return condition()


async def test_sends_settling_after_a_write_share_the_next_one(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    for _ in range(2):  # a requester's and an assignee's mail each
        ticket_id = new_ticket_id()
        await notify_of(envelope_of(ticket_created(ticket_id)), unit_of_work)
        await notify_of(envelope_of(ticket_assigned(ticket_id)), unit_of_work)
    mailer = GatedMailer()
    worker = delivery_worker(
        unit_of_work, mailer, WorkerOptions(email_domain="mail.acme.example", record_interval=0.3)
    )
    claimed = await worker.claim_due(10)
    log = StatementLog(engine)
    sends = [asyncio.create_task(worker.deliver(d, e)) for d, e in claimed]
    assert await turns_until(lambda: len(mailer.gates) == 4)

    mailer.gates[0].set()  # the first after a quiet spell: written at once
    assert await turns_until(lambda: log.count("COMMIT") == 1)
    mailer.gates[1].set()
    written_alone = await turns_until(lambda: log.count("COMMIT") == 2)
    for gate in mailer.gates[2:]:
        gate.set()
    await asyncio.gather(*sends)

    assert len(mailer.sent) == 4
    assert not written_alone, "the second send was written in a transaction of its own"
    assert log.count("UPDATE") == 2 and log.count("COMMIT") == 2, log.statements

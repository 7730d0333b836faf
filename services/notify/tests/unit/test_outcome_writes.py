"""The outcomes of a wave of deliveries are written by one executemany UPDATE (with the lease
check in its WHERE): no read before it; one after it only when a delivery was taken over."""

import asyncio
from datetime import timedelta

from notify_batches import worker
from notify_testkit import (
    TENANT,
    UnitOfWorkFactory,
    envelope_of,
    new_ticket_id,
    notify_of,
    ticket_assigned,
    ticket_created,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_notify.adapters.fakes import FakeMailer
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import StatementLog


async def two_queued(unit_of_work: UnitOfWorkFactory) -> None:
    ticket_id = new_ticket_id()
    await notify_of(envelope_of(ticket_created(ticket_id)), unit_of_work)
    await notify_of(envelope_of(ticket_assigned(ticket_id)), unit_of_work)


async def test_a_wave_of_outcomes_is_written_without_reading_first(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await two_queued(unit_of_work)
    mailer = FakeMailer()
    sender = worker(unit_of_work, mailer)
    claimed = await sender.claim_due(10)
    assert len(claimed) == 2
    log = StatementLog(engine)

    await asyncio.gather(*(sender.deliver(d, e) for d, e in claimed))

    assert len(mailer.sent) == 2
    assert [s.split()[0] for s in log.statements] == [
        "BEGIN",
        "UPDATE",
        "INSERT",
        "INSERT",
        "COMMIT",
    ], log.statements


async def test_in_a_wave_only_the_outcome_of_a_delivery_taken_over_is_dropped(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    await two_queued(unit_of_work)
    sender = worker(unit_of_work, FakeMailer())
    claimed = await sender.claim_due(10)
    async with unit_of_work() as uow:  # another worker claims one again after the lease
        [taken] = await uow.deliveries.claim_due(
            utcnow() + timedelta(days=1), utcnow() + timedelta(days=2), 1
        )
        await uow.commit()

    await asyncio.gather(*(sender.deliver(d, e) for d, e in claimed))

    async with unit_of_work() as uow:
        stored = {d.id: d for d, _ in claimed}
        for delivery_id in stored:
            stored[delivery_id] = await uow.deliveries.get(TENANT, delivery_id)  # type: ignore[assignment]
        recorded = {i: await uow.deliveries.attempts(TENANT, i) for i in stored}
    [(other, _)] = [c for c in claimed if c[0].id != taken.id]
    assert (stored[taken.id].status, stored[taken.id].attempts) == ("pending", 2)
    assert recorded[taken.id] == []
    assert stored[other.id].status == "delivered" and len(recorded[other.id]) == 1

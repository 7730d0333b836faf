"""Retention: finished deliveries and attempts older than the period go; pending ones stay."""

from datetime import timedelta

from notify_testkit import TENANT, UnitOfWorkFactory, envelope_of, ledger, new_ticket_id, notify_of
from notify_testkit import ticket_assigned as assigned

from helpline_notify.domain.model import Attempt
from helpline_notify.service_layer.retention import purge_ledger
from helpline_shared.runtime.db import utcnow


async def test_purge_removes_old_finished_deliveries_and_keeps_pending_ones(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    old, pending = new_ticket_id(), new_ticket_id()
    await notify_of(envelope_of(assigned(old)), unit_of_work)
    await notify_of(envelope_of(assigned(pending)), unit_of_work)
    [finished] = await ledger(unit_of_work, old)
    async with unit_of_work() as uow:
        finished.status = "delivered"
        await uow.deliveries.requeue(finished)  # writes the status as it is
        await uow.deliveries.record_attempt(
            Attempt(
                delivery_id=finished.id,
                tenant_id=TENANT,
                attempt=1,
                started_at=utcnow(),
                latency_ms=3.0,
                outcome="delivered",
                status_code=None,
                detail=None,
            )
        )
        await uow.commit()

    assert await purge_ledger(unit_of_work, timedelta(days=30), utcnow()) == 0
    purged = await purge_ledger(unit_of_work, timedelta(days=30), utcnow() + timedelta(days=31))

    assert purged == 1
    assert await ledger(unit_of_work, old) == []
    assert [d.status for d in await ledger(unit_of_work, pending)] == ["pending"]
    async with unit_of_work() as uow:
        assert await uow.deliveries.attempts(TENANT, finished.id) == []

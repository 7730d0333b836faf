"""An event that teaches notify nothing and that no subscription or endpoint wants costs no
write transaction and no inbox row; the tenant's next change of settings is seen at once."""

import pytest
from notify_batches import classified, clock_started, consume, status_changed
from notify_testkit import TENANT, UnitOfWorkFactory, ledger, new_ticket_id
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_notify.adapters.orm import metadata
from helpline_notify.service_layer import endpoints
from helpline_notify.service_layer.unit_of_work import NotifyUnitOfWork
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table
from helpline_shared.runtime.testing import StatementLog


async def claimed(engine: AsyncEngine) -> int:
    inbox = inbox_table(metadata)
    async with engine.connect() as connection:
        return len((await connection.execute(select(inbox.c.event_id))).all())


async def status_changes_hook(uow: NotifyUnitOfWork) -> None:
    """Register an endpoint for the tenant's status changes through ``uow``."""
    await endpoints.register_webhook_endpoint(
        endpoints.RegisterWebhookEndpoint(
            tenant_id=TENANT,
            url="https://hooks.example.com/in",
            event_types=("helpline.ticket.status_changed.v1",),
            allow_private_networks=False,
        ),
        uow,
    )


async def test_events_nobody_wants_are_acknowledged_by_one_read(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    ticket_id = new_ticket_id()
    before = await claimed(engine)
    log = StatementLog(engine)

    await consume(
        unit_of_work, [status_changed(ticket_id), clock_started(ticket_id)], skip_unneeded=True
    )

    writes = [s for s in log.statements if not s.upper().startswith(("SELECT", "BEGIN"))]
    assert writes in ([], ["ROLLBACK"]), log.statements
    assert log.count("SELECT tenant_settings") == 1, "one version read for the batch's tenant"
    assert await claimed(engine) == before


async def test_a_subscription_added_since_is_seen_by_the_next_event(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    ticket_id = new_ticket_id()
    await consume(unit_of_work, [status_changed(ticket_id)], skip_unneeded=True)
    await status_changes_hook(unit_of_work())

    await consume(unit_of_work, [status_changed(ticket_id)], skip_unneeded=True)

    assert [d.channel for d in await ledger(unit_of_work, ticket_id)] == ["webhook"]


async def test_an_event_with_facts_to_learn_is_applied(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    ticket_id = new_ticket_id()

    await consume(
        unit_of_work, [status_changed(ticket_id), classified(ticket_id)], skip_unneeded=True
    )

    async with unit_of_work() as uow:
        ticket = await uow.tickets.get(TENANT, ticket_id)
    assert ticket is not None and ticket.team == "printers"


async def test_settings_this_process_keeps_cost_the_check_no_unit_of_work(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticket_id = new_ticket_id()
    await consume(unit_of_work, [status_changed(ticket_id)], skip_unneeded=True)  # kept now
    entered: list[NotifyUnitOfWork] = []
    enter = NotifyUnitOfWork.__aenter__

    async def counted(uow: NotifyUnitOfWork) -> NotifyUnitOfWork:
        entered.append(uow)
        return await enter(uow)

    monkeypatch.setattr(NotifyUnitOfWork, "__aenter__", counted)
    log = StatementLog(engine)

    await consume(
        unit_of_work, [status_changed(ticket_id), clock_started(ticket_id)], skip_unneeded=True
    )

    assert entered == []
    assert log.count("SELECT tenant_settings") == 1, "the version, read once for the tenant"
    assert [s for s in log.statements if not s.upper().startswith(("SELECT", "BEGIN"))] in (
        [],
        ["ROLLBACK"],
    ), log.statements


async def test_another_replicas_change_of_settings_is_seen_by_the_next_event(
    database_url: str, unit_of_work: UnitOfWorkFactory
) -> None:
    ticket_id = new_ticket_id()
    await consume(unit_of_work, [status_changed(ticket_id)], skip_unneeded=True)  # kept now
    other = create_engine(database_url)  # another process: its own settings cache
    try:
        await status_changes_hook(_units_of_work(other)())
    finally:
        await other.dispose()

    await consume(unit_of_work, [status_changed(ticket_id)], skip_unneeded=True)

    assert [d.channel for d in await ledger(unit_of_work, ticket_id)] == ["webhook"]


def _units_of_work(engine: AsyncEngine) -> UnitOfWorkFactory:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    return lambda: NotifyUnitOfWork(
        sessions,
        outbox_table=outbox_table(metadata),
        inbox_table=inbox_table(metadata),
        source="/helpline/notify",
    )

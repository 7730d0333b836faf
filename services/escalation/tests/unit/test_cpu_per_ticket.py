"""What escalation no longer reads or writes per ticket, and why that stays correct."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from escalation_support import (
    TENANT,
    UnitOfWorkFactory,
    envelope_of,
    pending_timers,
    published,
    ticket_created,
    unit_of_work_on,
)
from opentelemetry.trace import NoOpTracer
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_escalation.adapters.orm import sla_clocks, sla_tickets
from helpline_escalation.adapters.policy_documents import PolicyDocument
from helpline_escalation.domain.policy import DEFAULT_FIRST_RESPONSE_TARGETS
from helpline_escalation.service_layer import handlers, policies
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared.events import Event, SlaClockStarted
from helpline_shared.runtime.consumer import DeadLetters, TableConsumer
from helpline_shared.runtime.db import create_engine
from helpline_shared.runtime.testing import (
    FakeKafkaConsumer,
    RecordingProducer,
    StatementLog,
    consumer_record,
)

HOUR = 3600


def policy(target_hours: int) -> PolicyDocument:
    return PolicyDocument.model_validate(
        {
            "name": "Standard",
            "position": 0,
            "calendar": {"name": "24/7", "always_open": True},
            "metrics": {"first_response": {"targets": {"high": target_hours * HOUR}}},
        }
    )


async def handle(
    unit_of_work: UnitOfWorkFactory, event: Event, event_id: str | None = None
) -> None:
    await handlers.on_ticket_event(
        envelope_of(event, event_id), unit_of_work(), DEFAULT_FIRST_RESPONSE_TARGETS
    )


async def targets(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(sla_clocks.c.ticket_id, sla_clocks.c.target_seconds))
        return {row.ticket_id: row.target_seconds for row in rows}


async def consume(unit_of_work: UnitOfWorkFactory, events: list[tuple[str, Event]]) -> None:
    """Apply ``(event id, event)`` pairs as one consumed batch, as the runtime does."""
    producer = RecordingProducer()

    async def no_wait(_seconds: float) -> None:
        pass

    await TableConsumer(
        table=handlers.handler_table(DEFAULT_FIRST_RESPONSE_TARGETS),
        unit_of_work=unit_of_work,
        dead_letters=DeadLetters(producer, "helpline-escalation"),
        tracer=NoOpTracer(),
        group="helpline-escalation",
        sleep=no_wait,
    ).consume(
        [consumer_record(e, offset=n, event_id=i) for n, (i, e) in enumerate(events)],  # type: ignore[arg-type]
        FakeKafkaConsumer(),
    )
    assert producer.sent == [], "nothing may be dead-lettered"


async def test_a_ticket_created_again_for_clocks_older_than_its_row_changes_nothing(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await consume(unit_of_work, [("ce-1", ticket_created())])
    # Clocks from before revision 0002 have no ticket row (as if it had never been written).
    async with engine.begin() as connection:
        await connection.execute(delete(sla_tickets))

    # Was dead-lettered: admitted again, its clock was inserted a second time.
    await consume(unit_of_work, [("ce-2", ticket_created()), ("ce-3", ticket_created("t-2"))])

    assert [e.type for e in await published(engine)] == [SlaClockStarted.event_type] * 2
    assert len(await pending_timers(engine)) == 2
    async with engine.connect() as connection:
        rows = await connection.execute(select(sla_tickets.c.ticket_id))
        assert [row.ticket_id for row in rows] == ["t-2"]


async def test_a_ticket_admitted_before_is_left_alone_and_new_ones_are_not_looked_for(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    log = StatementLog(engine)
    await consume(unit_of_work, [("ce-1", ticket_created("t-1")), ("ce-2", ticket_created("t-2"))])
    assert log.count("INSERT INTO sla_tickets") == 1  # was one per ticket
    assert log.count("SELECT sla_tickets") == log.count("SELECT sla_clocks") == 0
    await consume(unit_of_work, [("ce-3", ticket_created("t-1")), ("ce-4", ticket_created("t-3"))])
    assert [e.event.ticket_id for e in await published(engine)] == ["t-1", "t-2", "t-3"]
    assert len(await pending_timers(engine)) == 3


async def test_the_timers_of_a_batch_are_inserted_in_one_statement(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    log = StatementLog(engine)
    async with unit_of_work() as uow:
        for ticket_id in ("t-1", "t-2", "t-3"):
            with uow.lent_to_handler():
                await handlers.apply_ticket_event(
                    uow, envelope_of(ticket_created(ticket_id)), handlers.BUILT_IN_DEFAULT
                )
        await uow.commit()
    assert log.count("INSERT INTO timers") == 1
    assert len(await pending_timers(engine)) == 3


async def test_policies_are_read_once_across_transactions(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await policies.put_policy(TENANT, "standard", policy(4), recompute=False, uow=unit_of_work())
    log = StatementLog(engine)
    for ticket_id in ("t-1", "t-2", "t-3"):
        await handle(unit_of_work, ticket_created(ticket_id))
    assert log.count("SELECT sla_policies.") == 1  # was one per transaction
    assert log.count("SELECT count(*)") == 3  # the cheap check: has a version been added?
    assert await targets(engine) == {t: 4 * HOUR for t in ("t-1", "t-2", "t-3")}


@pytest.fixture
async def other_replica(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[UnitOfWorkFactory]:
    """Units of work of a second escalation process on the same database (its own caches)."""
    second = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'escalation.db'}")
    yield lambda: unit_of_work_on(second, EscalationUnitOfWork)
    await second.dispose()


async def test_a_policy_version_added_by_another_replica_is_seen_by_the_next_ticket(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory, other_replica: UnitOfWorkFactory
) -> None:
    await policies.put_policy(TENANT, "standard", policy(4), recompute=False, uow=unit_of_work())
    await handle(unit_of_work, ticket_created("t-1"))  # this replica keeps version 1
    await policies.put_policy(TENANT, "standard", policy(2), recompute=False, uow=other_replica())
    await handle(unit_of_work, ticket_created("t-2"))
    assert await targets(engine) == {"t-1": 4 * HOUR, "t-2": 2 * HOUR}


async def test_a_version_added_and_rolled_back_is_not_kept(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    async with unit_of_work() as uow:
        await uow.policies.add_version(TENANT, policy(1), "standard")
        assert [p.version for p in await uow.policies.current(TENANT)] == [1]
        await uow.rollback()
    await handle(unit_of_work, ticket_created("t-1"))
    assert await targets(engine) == {"t-1": DEFAULT_FIRST_RESPONSE_TARGETS["high"]}

"""Escalation's statements per event: a new ticket is admitted without a SELECT, its clocks are
not read back, clocks and cycles are written once per batch, and all of it reads back right."""

from escalation_support import (
    UnitOfWorkFactory,
    message_added,
    published,
    status_changed,
    ticket_created,
)
from opentelemetry.trace import NoOpTracer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_escalation.adapters.orm import sla_clocks, sla_cycles, sla_tickets
from helpline_escalation.service_layer import handlers
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared.events import Event, SlaClockStarted, SlaClockStopped
from helpline_shared.runtime.consumer import DeadLetters, TableConsumer
from helpline_shared.runtime.testing import (
    FakeKafkaConsumer,
    RecordingProducer,
    StatementLog,
    consumer_record,
)


async def consume(
    unit_of_work: UnitOfWorkFactory, events: list[Event], ids: list[str] | None = None
) -> None:
    producer = RecordingProducer()
    await TableConsumer[EscalationUnitOfWork](
        table=handlers.handler_table({"high": 3600}),
        unit_of_work=unit_of_work,
        dead_letters=DeadLetters(producer, "helpline-escalation"),
        tracer=NoOpTracer(),
        group="helpline-escalation",
    ).consume(
        [
            consumer_record(event, offset=n, event_id=ids[n] if ids else None)
            for n, event in enumerate(events)
        ],
        FakeKafkaConsumer(),
    )
    assert producer.sent == []


async def test_a_batch_of_new_tickets_admits_them_without_reading_and_writes_clocks_once(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    ids = [f"t-{n}" for n in range(5)]
    log = StatementLog(engine)
    await consume(unit_of_work, [ticket_created(ticket_id) for ticket_id in ids])

    assert log.count("SELECT sla_tickets") == 0
    assert log.count("SELECT sla_clocks") == 0
    assert log.count("SELECT sla_policies") == 1
    assert log.count("INSERT INTO sla_tickets") == 1  # written behind too (was one per ticket)
    assert log.count("INSERT INTO sla_clocks") == 1
    assert log.count("INSERT INTO sla_cycles") == 1
    assert log.count("UPDATE sla_cycles") == 0
    async with engine.connect() as connection:
        clocks = (await connection.execute(select(sla_clocks))).all()
        cycles = (await connection.execute(select(sla_cycles))).all()
    assert sorted(clock.ticket_id for clock in clocks) == ids
    assert sorted((cycle.ticket_id, cycle.cycle) for cycle in cycles) == [(t, 1) for t in ids]


async def test_events_of_tickets_admitted_in_the_same_batch_read_nothing_back(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    log = StatementLog(engine)
    await consume(
        unit_of_work,
        [
            ticket_created("t-1"),
            message_added("t-1", author_role="agent"),
            ticket_created("t-2"),
            status_changed("t-2", status="solved"),
        ],
    )

    assert log.count("SELECT sla_tickets") == 0
    assert log.count("SELECT sla_clocks") == 0
    assert log.count("INSERT INTO sla_clocks") == 1
    assert log.count("UPDATE sla_clocks") == 0  # both stops change clocks this batch inserts
    assert [e.type for e in await published(engine)] == [
        SlaClockStarted.event_type,
        SlaClockStopped.event_type,
        SlaClockStarted.event_type,
        SlaClockStopped.event_type,
    ]
    async with engine.connect() as connection:
        clocks = {row.ticket_id: row for row in await connection.execute(select(sla_clocks))}
        cycles = {row.ticket_id: row for row in await connection.execute(select(sla_cycles))}
    assert {t: clock.stopped_at is not None for t, clock in clocks.items()} == {
        "t-1": True,
        "t-2": True,
    }
    assert all(cycle.stopped_at is not None for cycle in cycles.values())


async def test_a_later_batch_reads_each_ticket_once_and_writes_clocks_and_cycles_once(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    ids = [f"t-{n}" for n in range(4)]
    await consume(unit_of_work, [ticket_created(ticket_id) for ticket_id in ids])
    log = StatementLog(engine)
    await consume(
        unit_of_work,
        [status_changed(ticket_id, status="solved") for ticket_id in ids]
        + [status_changed(ticket_id, status="open") for ticket_id in ids[:2]],
    )

    # One statement per ticket locks its clocks and reads its row; none for its later events.
    assert log.count("SELECT sla_tickets") == 0
    assert log.count("SELECT sla_clocks") == 4
    assert log.count("UPDATE sla_clocks") == 1
    assert log.count("INSERT INTO sla_cycles") == 1  # one upsert of every cycle's outcome
    async with engine.connect() as connection:
        stopped = {
            row.ticket_id: row.stopped_at is not None
            for row in await connection.execute(select(sla_clocks))
        }
    assert stopped == dict.fromkeys(ids, True)


async def test_a_ticket_created_again_under_another_event_id_is_admitted_once(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    created = ticket_created("t-1")
    await consume(unit_of_work, [created, created], ids=["e-1", "e-2"])
    await consume(unit_of_work, [created], ids=["e-3"])

    async with engine.connect() as connection:
        assert len((await connection.execute(select(sla_tickets))).all()) == 1
        assert len((await connection.execute(select(sla_clocks))).all()) == 1
    assert [e.type for e in await published(engine)] == [SlaClockStarted.event_type]

"""A partition's batch that outlasts the time budget is cut: what was applied is committed, the
rest is read again (so slow handlers never cost the consumer its place in the group)."""

from typing import Any

from opentelemetry.trace import NoOpTracer
from runtime_support import changed, inbox, outbox
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_shared.envelope import Envelope
from helpline_shared.events import TicketStatusChanged
from helpline_shared.runtime.consumer import DeadLetters, HandlerTable, TableConsumer
from helpline_shared.runtime.testing import FakeKafkaConsumer, RecordingProducer, consumer_record
from helpline_shared.runtime.uow import SqlUnitOfWork


async def claimed(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(inbox)) or 0)


async def test_a_batch_past_its_budget_commits_what_it_applied_and_rewinds_the_rest(
    engine: AsyncEngine,
) -> None:
    now = [0.0]
    applied: list[str] = []

    async def slow(uow: SqlUnitOfWork, envelope: Envelope) -> None:
        now[0] += 0.4  # each record takes 0.4 s of a 1 s budget
        applied.append(envelope.id)
        uow.publish(changed("out-" + envelope.id))

    sessions = async_sessionmaker(engine, expire_on_commit=False)
    consumer = TableConsumer(
        table=HandlerTable("test", {TicketStatusChanged: slow}),
        unit_of_work=lambda: SqlUnitOfWork(
            sessions, outbox_table=outbox, inbox_table=inbox, source="/t"
        ),
        dead_letters=DeadLetters(RecordingProducer(), "g"),
        tracer=NoOpTracer(),
        group="g",
        clock=lambda: now[0],
        time_budget=1.0,
    )
    records: list[Any] = [consumer_record(changed(f"t{n}"), offset=n) for n in range(5)]
    kafka = FakeKafkaConsumer()

    await consumer.consume(records, kafka)

    assert len(applied) == 3  # the budget was over after the third
    assert kafka.seeks == {("helpline.tickets", 0): 3}
    assert await claimed(engine) == 3  # the claims of the two left were undone
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(outbox)) == 3

    await consumer.consume(records[3:], FakeKafkaConsumer())  # read again
    assert len(applied) == 5
    assert len(set(applied)) == 5
    assert await claimed(engine) == 5


async def test_the_first_record_is_applied_even_past_the_budget(engine: AsyncEngine) -> None:
    now = [0.0]
    applied: list[str] = []

    async def very_slow(uow: SqlUnitOfWork, envelope: Envelope) -> None:
        now[0] += 5.0
        applied.append(envelope.id)

    sessions = async_sessionmaker(engine, expire_on_commit=False)
    consumer = TableConsumer(
        table=HandlerTable("test", {TicketStatusChanged: very_slow}),
        unit_of_work=lambda: SqlUnitOfWork(
            sessions, outbox_table=outbox, inbox_table=inbox, source="/t"
        ),
        dead_letters=DeadLetters(RecordingProducer(), "g"),
        tracer=NoOpTracer(),
        group="g",
        clock=lambda: now[0],
        time_budget=1.0,
    )
    kafka = FakeKafkaConsumer()
    await consumer.consume([consumer_record(changed(f"t{n}"), offset=n) for n in range(3)], kafka)
    assert len(applied) == 1  # progress, one record at least per poll
    assert kafka.seeks == {("helpline.tickets", 0): 1}
    assert await claimed(engine) == 1

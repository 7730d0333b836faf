"""Round trips of one consumed batch's transaction on PostgreSQL: BEGIN, one statement that
claims the batch's inbox rows, stages its outbox rows and marks what the relay published, and
COMMIT, whatever the batch size (each size prepared nothing new)."""

import asyncio
from datetime import timedelta

import pytest
from opentelemetry.trace import NoOpTracer
from runtime_support import RoundTrips, RuntimeDatabase, created, inbox, outbox
from sqlalchemy import func, select

from helpline_devstack.testing import unique_name
from helpline_shared.envelope import Envelope
from helpline_shared.events import TicketCreated
from helpline_shared.runtime.consumer import DeadLetters, HandlerTable, TableConsumer
from helpline_shared.runtime.outbox import OutboxRelay
from helpline_shared.runtime.testing import FakeKafkaConsumer, RecordingProducer, consumer_record
from helpline_shared.runtime.uow import SqlUnitOfWork

pytestmark = pytest.mark.integration


async def republish(uow: SqlUnitOfWork, envelope: Envelope) -> None:
    """A handler that only publishes: it sends no statement of its own."""
    uow.publish(created(unique_name("n")))


async def test_a_consumed_batch_is_three_round_trips_whatever_its_size(
    postgres_runtime: RuntimeDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    producer = RecordingProducer()
    relay = OutboxRelay(
        engine=postgres_runtime.engine, table=outbox, producer=producer, service="t"
    )
    relay._running, relay._behind = True, False  # as after the relay's first poll
    consumer = TableConsumer(
        table=HandlerTable("test", {TicketCreated: republish}),
        unit_of_work=lambda: postgres_runtime.unit_of_work(relay=relay),
        dead_letters=DeadLetters(producer, "g"),
        tracer=NoOpTracer(),
        group="g",
    )
    offset = 0

    async def consume(size: int) -> None:
        nonlocal offset
        records = [
            consumer_record(created(unique_name("t")), offset=offset + n) for n in range(size)
        ]
        offset += size
        await consumer.consume(records, FakeKafkaConsumer())
        assert await relay.publish_handed() == size

    await consume(1)  # sets the connection up, prepares the statement
    await consume(1)
    trips = RoundTrips(monkeypatch)
    for size in (2, 5, 9):
        await consume(size)

    # Per batch: BEGIN, the one statement (claim, outbox rows, mark-sent), COMMIT.
    assert trips.sent == {"execute": 6, "statement": 3}
    async with postgres_runtime.engine.connect() as connection:
        claimed = await connection.scalar(select(func.count()).select_from(inbox))
        staged = await connection.scalar(select(func.count()).select_from(outbox))
        unsent = await connection.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
        )
    assert (claimed, staged, unsent) == (18, 18, 9)


async def test_a_batch_with_an_event_applied_before_applies_each_event_once(
    postgres_runtime: RuntimeDatabase,
) -> None:
    producer = RecordingProducer()
    consumer = TableConsumer(
        table=HandlerTable("test", {TicketCreated: republish}),
        unit_of_work=postgres_runtime.unit_of_work,
        dead_letters=DeadLetters(producer, "g"),
        tracer=NoOpTracer(),
        group="g",
        sleep=lambda _seconds: asyncio.sleep(0),
    )
    first = consumer_record(created("t1"), offset=0, event_id="ce-1")
    await consumer.consume([first], FakeKafkaConsumer())
    kafka = FakeKafkaConsumer()
    await consumer.consume(
        [
            first,  # redelivered: the claim at commit meets it, the batch is replayed alone
            consumer_record(created("t2"), offset=1, event_id="ce-2"),
            consumer_record(created("t2"), offset=2, event_id="ce-2"),
        ],
        kafka,
    )

    async with postgres_runtime.engine.connect() as connection:
        claimed = (await connection.scalars(select(inbox.c.event_id))).all()
        staged = await connection.scalar(select(func.count()).select_from(outbox))
    assert sorted(claimed) == ["ce-1", "ce-2"]
    assert staged == 2  # one event published per event applied, none for the duplicates
    assert kafka.seeks == {} and producer.sent == []  # nothing read again, nothing dead-lettered


async def test_rows_staged_by_the_one_statement_are_polled_as_they_were_staged(
    postgres_runtime: RuntimeDatabase,
) -> None:
    consumer = TableConsumer(
        table=HandlerTable("test", {TicketCreated: republish}),
        unit_of_work=postgres_runtime.unit_of_work,
        dead_letters=DeadLetters(RecordingProducer(), "g"),
        tracer=NoOpTracer(),
        group="g",
    )
    records = [consumer_record(created(f"t{n}"), offset=n) for n in range(3)]
    await consumer.consume(records, FakeKafkaConsumer())
    async with postgres_runtime.engine.connect() as connection:
        staged = (await connection.execute(select(outbox).order_by(outbox.c.id))).all()

    producer = RecordingProducer()
    relay = OutboxRelay(
        engine=postgres_runtime.engine,
        table=outbox,
        producer=producer,
        service="t",
        hand_off_grace=timedelta(0),
    )
    assert await relay.publish_pending() == 3

    # In the order staged, each with its headers (JSON), key and value (bytes) intact.
    assert [(topic, value, headers["ce_id"]) for topic, value, headers in producer.sent] == [
        (row.topic, row.record_value, row.event_id) for row in staged
    ]
    assert all(row.created_at.tzinfo is not None and row.record_key for row in staged)

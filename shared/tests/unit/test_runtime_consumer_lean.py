"""What the batch consumer does per record, beyond the handler: no repeated lookups or compiles."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from opentelemetry.trace import NoOpTracer
from sqlalchemy import MetaData, event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_shared.envelope import Envelope
from helpline_shared.events import Requester, TicketCreated
from helpline_shared.runtime import consumer as consumer_module
from helpline_shared.runtime.consumer import DeadLetters, HandlerTable, TableConsumer
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table, utcnow
from helpline_shared.runtime.testing import FakeKafkaConsumer, RecordingProducer, consumer_record
from helpline_shared.runtime.uow import SqlUnitOfWork

metadata = MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


@pytest_asyncio.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'lean.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def nothing(uow: SqlUnitOfWork, envelope: Envelope) -> None:
    """A handler with nothing to write."""


def table_consumer(engine: AsyncEngine) -> TableConsumer[SqlUnitOfWork]:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    return TableConsumer(
        table=HandlerTable("test", {TicketCreated: nothing}),
        unit_of_work=lambda: SqlUnitOfWork(
            sessions, outbox_table=outbox, inbox_table=inbox, source="/t"
        ),
        dead_letters=DeadLetters(RecordingProducer(), "g"),
        tracer=NoOpTracer(),
        group="g",
    )


def created(ticket_id: str) -> TicketCreated:
    return TicketCreated(
        tenant_id="acme",
        ticket_id=ticket_id,
        occurred_at=utcnow(),
        subject="Printer",
        description="On fire",
        requester=Requester(email="ann@example.com"),
        priority="high",
        type="question",
        channel="api",
    )


def batch(first: int, size: int) -> list[Any]:
    return [consumer_record(created(f"t{n}"), offset=n) for n in range(first, first + size)]


class CountedLabels:
    """A metric whose ``labels`` calls are counted."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self.lookups = 0

    def labels(self, *values: str) -> Any:
        self.lookups += 1
        return self.metric.labels(*values)


async def test_metric_children_are_looked_up_once_per_topic_and_outcome(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumed = CountedLabels(consumer_module.EVENTS_CONSUMED)
    seconds = CountedLabels(consumer_module.HANDLER_SECONDS)
    monkeypatch.setattr(consumer_module, "EVENTS_CONSUMED", consumed)
    monkeypatch.setattr(consumer_module, "HANDLER_SECONDS", seconds)
    consumer = table_consumer(engine)

    await consumer.consume(batch(0, 5), FakeKafkaConsumer())
    await consumer.consume(batch(5, 5), FakeKafkaConsumer())

    # One topic, one outcome ("handled"): a lookup each, not one per record (ten).
    assert (consumed.lookups, seconds.lookups) == (1, 1)


async def test_the_inbox_claim_is_compiled_once_whatever_the_batch_size(
    engine: AsyncEngine,
) -> None:
    compiled: list[object] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def note(
        _connection: Any, _cursor: Any, statement: str, _p: Any, context: Any, _m: Any
    ) -> None:
        if statement.startswith("INSERT INTO processed_events"):
            compiled.append(context.compiled)

    consumer = table_consumer(engine)
    for first, size in ((0, 2), (2, 3), (5, 4)):
        await consumer.consume(batch(first, size), FakeKafkaConsumer())

    # A VALUES list built into the statement made one statement (and compile) per batch size.
    assert len(compiled) == 3 and len({id(statement) for statement in compiled}) == 1

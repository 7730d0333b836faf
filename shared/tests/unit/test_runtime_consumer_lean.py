"""What the batch consumer does per record, beyond the handler: no repeated lookups or compiles."""

from typing import Any

import pytest
from opentelemetry.trace import NoOpTracer
from runtime_support import RuntimeDatabase, created
from sqlalchemy import event

from helpline_shared.envelope import Envelope
from helpline_shared.events import TicketCreated
from helpline_shared.runtime import consumer as consumer_module
from helpline_shared.runtime.consumer import DeadLetters, HandlerTable, TableConsumer
from helpline_shared.runtime.testing import FakeKafkaConsumer, RecordingProducer, consumer_record
from helpline_shared.runtime.uow import SqlUnitOfWork


async def nothing(uow: SqlUnitOfWork, envelope: Envelope) -> None:
    """A handler with nothing to write."""


def table_consumer(database: RuntimeDatabase) -> TableConsumer[SqlUnitOfWork]:
    return TableConsumer(
        table=HandlerTable("test", {TicketCreated: nothing}),
        unit_of_work=database.unit_of_work,
        dead_letters=DeadLetters(RecordingProducer(), "g"),
        tracer=NoOpTracer(),
        group="g",
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
    sqlite_runtime: RuntimeDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumed = CountedLabels(consumer_module.EVENTS_CONSUMED)
    seconds = CountedLabels(consumer_module.HANDLER_SECONDS)
    monkeypatch.setattr(consumer_module, "EVENTS_CONSUMED", consumed)
    monkeypatch.setattr(consumer_module, "HANDLER_SECONDS", seconds)
    consumer = table_consumer(sqlite_runtime)

    await consumer.consume(batch(0, 5), FakeKafkaConsumer())
    await consumer.consume(batch(5, 5), FakeKafkaConsumer())

    # One topic, one outcome ("handled"): a lookup each, not one per record (ten).
    assert (consumed.lookups, seconds.lookups) == (1, 1)


async def test_the_inbox_claim_is_compiled_once_whatever_the_batch_size(
    sqlite_runtime: RuntimeDatabase,
) -> None:
    compiled: list[object] = []

    @event.listens_for(sqlite_runtime.engine.sync_engine, "before_cursor_execute")
    def note(
        _connection: Any, _cursor: Any, statement: str, _p: Any, context: Any, _m: Any
    ) -> None:
        if statement.startswith("INSERT INTO processed_events"):
            compiled.append(context.compiled)

    consumer = table_consumer(sqlite_runtime)
    for first, size in ((0, 2), (2, 3), (5, 4)):
        await consumer.consume(batch(first, size), FakeKafkaConsumer())

    # A VALUES list built into the statement made one statement (and compile) per batch size.
    assert len(compiled) == 3 and len({id(statement) for statement in compiled}) == 1

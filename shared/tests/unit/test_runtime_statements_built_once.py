"""The runtime's own statements (inbox claim, outbox insert, mark-sent) are built once and
reused, and the outbox insert and the commit cost one greenlet hop together."""

from typing import Any

import pytest
from opentelemetry.trace import NoOpTracer
from runtime_support import RuntimeDatabase, created, outbox
from sqlalchemy import event

from helpline_shared.envelope import Envelope
from helpline_shared.events import TicketCreated
from helpline_shared.runtime import uow as uow_module
from helpline_shared.runtime.consumer import DeadLetters, HandlerTable, TableConsumer
from helpline_shared.runtime.outbox import OutboxRelay
from helpline_shared.runtime.testing import FakeKafkaConsumer, RecordingProducer, consumer_record
from helpline_shared.runtime.uow import SqlUnitOfWork


async def test_claim_insert_and_mark_sent_statements_are_the_same_objects_batch_after_batch(
    sqlite_runtime: RuntimeDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = sqlite_runtime.engine
    relay = OutboxRelay(engine=engine, table=outbox, producer=RecordingProducer(), service="t")
    relay._running, relay._behind = True, False  # as after the relay's first poll

    async def apply(uow: SqlUnitOfWork, envelope: Envelope) -> None:
        uow.publish(created("out-" + envelope.id))

    consumer = TableConsumer(
        table=HandlerTable("test", {TicketCreated: apply}),
        unit_of_work=lambda: sqlite_runtime.unit_of_work(relay=relay),
        dead_letters=DeadLetters(RecordingProducer(), "g"),
        tracer=NoOpTracer(),
        group="g",
    )
    executed: list[tuple[str, int]] = []

    def seen(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        executed.append((statement.split()[0], id(statement)))

    # What the driver is given: on SQLite the runtime's own SQL text, built once, no statement
    # compiled or looked up in SQLAlchemy's cache.
    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    hops = 0
    real_run_sync = uow_module.AsyncSession.run_sync

    async def counted_run_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal hops
        hops += 1
        return await real_run_sync(self, *args, **kwargs)

    monkeypatch.setattr(uow_module.AsyncSession, "run_sync", counted_run_sync)

    for first in (0, 10, 20):
        records = [consumer_record(created(f"t{n}"), offset=n) for n in range(first, first + 3)]
        await consumer.consume(records, FakeKafkaConsumer())
        assert await relay.publish_handed() == 3

    # The first batch has nothing to mark; each later one marks what the relay published of
    # the one before in its own transaction.
    assert [kind for kind, _ in executed[:2]] == ["INSERT", "INSERT"]
    second_batch, third_batch = executed[2:5], executed[5:]
    assert [kind for kind, _ in second_batch] == ["INSERT", "INSERT", "UPDATE"]
    assert executed[:2] == second_batch[:2]
    assert second_batch == third_batch  # the very same statement texts, built once
    assert hops == 3  # outbox insert, mark sent and commit in one hop per batch

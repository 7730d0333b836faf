"""The runtime's own statements (inbox claim, outbox insert, mark-sent) are built once and
reused, and the outbox insert and the commit cost one greenlet hop together."""

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
from helpline_shared.runtime import uow as uow_module
from helpline_shared.runtime.consumer import DeadLetters, HandlerTable, TableConsumer
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table, utcnow
from helpline_shared.runtime.outbox import OutboxRelay
from helpline_shared.runtime.testing import FakeKafkaConsumer, RecordingProducer, consumer_record
from helpline_shared.runtime.uow import SqlUnitOfWork

metadata = MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


@pytest_asyncio.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'once.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


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


async def test_claim_insert_and_mark_sent_statements_are_the_same_objects_batch_after_batch(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    relay = OutboxRelay(engine=engine, table=outbox, producer=RecordingProducer(), service="t")
    relay._running, relay._behind = True, False  # as after the relay's first poll

    async def apply(uow: SqlUnitOfWork, envelope: Envelope) -> None:
        uow.publish(created("out-" + envelope.id))

    consumer = TableConsumer(
        table=HandlerTable("test", {TicketCreated: apply}),
        unit_of_work=lambda: SqlUnitOfWork(
            sessions, outbox_table=outbox, inbox_table=inbox, source="/t", relay=relay
        ),
        dead_letters=DeadLetters(RecordingProducer(), "g"),
        tracer=NoOpTracer(),
        group="g",
    )
    executed: list[tuple[str, int]] = []

    def seen(_connection: Any, statement: Any, *_args: Any) -> None:
        executed.append((str(statement).split()[0], id(statement)))

    event.listen(engine.sync_engine, "before_execute", seen)
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
    assert second_batch == third_batch  # the very same statement objects, built once
    assert hops == 3  # outbox insert, mark sent and commit in one hop per batch

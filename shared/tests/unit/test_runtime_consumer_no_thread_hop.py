"""A consumed batch reaches the table consumer through FastStream without a worker-thread hop."""

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
import pytest_asyncio
from faststream.kafka import KafkaBroker, TestKafkaBroker
from opentelemetry.trace import NoOpTracer
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_shared.envelope import Envelope, to_record
from helpline_shared.events import Requester, TicketCreated
from helpline_shared.runtime.consumer import DeadLetters, HandlerTable, subscribe_table
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table, utcnow
from helpline_shared.runtime.testing import RecordingProducer
from helpline_shared.runtime.uow import SqlUnitOfWork

metadata = MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


@pytest_asyncio.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'hop.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def test_a_batch_is_applied_without_running_anything_in_a_worker_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    hops: list[object] = []
    real_run_sync = anyio.to_thread.run_sync

    async def counted(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[Any]:
        hops.append(function)
        return await real_run_sync(function, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    applied: list[str] = []

    async def apply(uow: SqlUnitOfWork, envelope: Envelope) -> None:
        applied.append(envelope.id)

    sessions = async_sessionmaker(engine, expire_on_commit=False)
    broker = KafkaBroker("localhost:9")
    subscribe_table(
        broker,
        topics=["tickets"],
        group="g",
        table=HandlerTable("test", {TicketCreated: apply}),
        unit_of_work=lambda: SqlUnitOfWork(
            sessions, outbox_table=outbox, inbox_table=inbox, source="/t"
        ),
        dead_letters=DeadLetters(RecordingProducer(), "g"),
        tracer=NoOpTracer(),
    )
    event = TicketCreated(
        tenant_id="acme",
        ticket_id="t1",
        occurred_at=utcnow(),
        subject="Printer",
        description="On fire",
        requester=Requester(email="ann@example.com"),
        priority="high",
        type="question",
        channel="api",
    )
    record = to_record(event, source="/t", event_id="e1")
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(
            record.value,
            "tickets",
            key=record.key,
            headers={name: value.decode() for name, value in record.headers},
        )

    assert applied == ["e1"]
    # FastStream resolves a ``message: KafkaMessage`` parameter in a worker thread per batch.
    assert hops == []

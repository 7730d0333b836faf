"""Audit records of concurrent answers share one transaction; each is committed before its
caller goes on, carries its caller's trace, and a failed transaction fails each of its callers."""

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_shared.events import AuditRecorded
from helpline_shared.runtime.audit import AuditBatches
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table
from helpline_shared.runtime.testing import StatementLog, outbox_events
from helpline_shared.runtime.uow import SqlUnitOfWork

Factory = Callable[[], SqlUnitOfWork]


@pytest.fixture
async def database(tmp_path: object) -> AsyncIterator[tuple[Factory, AsyncEngine, MetaData]]:
    metadata = MetaData()
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/audit.db")
    outbox, inbox = outbox_table(metadata), inbox_table(metadata)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    def unit_of_work() -> SqlUnitOfWork:
        return SqlUnitOfWork(sessions, outbox_table=outbox, inbox_table=inbox, source="/tests")

    yield unit_of_work, engine, metadata
    await engine.dispose()


def record(number: int) -> AuditRecorded:
    return AuditRecorded(
        tenant_id="acme",
        service="tests",
        actor="user:u-ann",
        action="tickets.create",
        target=f"/v1/tickets/{number}",
        outcome="ok",
        request_id=f"req-{number}",
        detail={"method": "POST", "status": "201"},
        occurred_at=datetime.now(UTC),
    )


async def test_concurrent_records_share_a_transaction_and_each_is_committed_when_awaited(
    database: tuple[Factory, AsyncEngine, MetaData],
) -> None:
    unit_of_work, engine, metadata = database
    batches = AuditBatches(unit_of_work)
    log = StatementLog(engine)
    seen_committed: list[bool] = []

    async def answer(number: int) -> None:
        await batches.record(record(number))
        targets = {event.event.target for event in await outbox_events(engine, metadata)}
        seen_committed.append(f"/v1/tickets/{number}" in targets)

    await asyncio.gather(*(answer(number) for number in range(20)))

    stored = sorted(
        envelope.event.target or "" for envelope in await outbox_events(engine, metadata)
    )
    assert stored == sorted(f"/v1/tickets/{number}" for number in range(20))
    assert seen_committed == [True] * 20
    # One transaction per answer before; now the first takes its record alone (it found no
    # transaction waiting) and the next one takes the other nineteen.
    assert log.count("COMMIT") <= 2


async def test_each_record_carries_the_trace_of_its_own_caller(
    database: tuple[Factory, AsyncEngine, MetaData],
) -> None:
    unit_of_work, engine, metadata = database
    batches = AuditBatches(unit_of_work)
    tracer = TracerProvider().get_tracer("tests")
    trace_ids: dict[str, str] = {}

    async def answer(number: int) -> None:
        with tracer.start_as_current_span(f"request {number}") as span:
            trace_ids[f"req-{number}"] = format(span.get_span_context().trace_id, "032x")
            await batches.record(record(number))

    await asyncio.gather(*(answer(number) for number in range(5)))

    table = outbox_table(metadata)
    async with engine.connect() as connection:
        rows = (await connection.execute(select(table.c.headers))).all()
    parents = {}
    for (headers,) in rows:
        found = dict(headers)
        request_id = next(
            envelope.event.request_id
            for envelope in await outbox_events(engine, metadata)
            if envelope.id == found["ce_id"]
        )
        parents[request_id] = found["traceparent"].split("-")[1]
    assert parents == trace_ids


async def test_a_failed_transaction_fails_each_of_its_records_and_the_next_one_stands(
    database: tuple[Factory, AsyncEngine, MetaData],
) -> None:
    unit_of_work, engine, metadata = database
    failing = True

    class Refusing(SqlUnitOfWork):
        async def commit(self) -> None:
            if failing:
                raise OSError("disk full")
            await super().commit()

    healthy = unit_of_work()

    def refusing() -> SqlUnitOfWork:
        return Refusing(
            healthy._session_factory,
            outbox_table=outbox_table(metadata),
            inbox_table=inbox_table(metadata),
            source="/tests",
        )

    batches = AuditBatches(refusing)
    outcomes = await asyncio.gather(
        *(batches.record(record(number)) for number in range(3)), return_exceptions=True
    )
    assert [type(outcome) for outcome in outcomes] == [OSError] * 3
    assert await outbox_events(engine, metadata) == []

    failing = False
    await batches.record(record(9))
    assert [envelope.event.request_id for envelope in await outbox_events(engine, metadata)] == [
        "req-9"
    ]


@pytest.mark.parametrize("started", [False, True])
async def test_a_transaction_cancelled_at_shutdown_leaves_no_caller_waiting(
    database: tuple[Factory, AsyncEngine, MetaData], started: bool
) -> None:
    unit_of_work, _, _ = database
    stuck, entered = asyncio.Event(), asyncio.Event()

    class Stuck(SqlUnitOfWork):
        async def __aenter__(self) -> "Stuck":
            entered.set()
            await stuck.wait()  # never set: the write turn never comes
            return self

    healthy = unit_of_work()
    batches = AuditBatches(
        lambda: Stuck(
            healthy._session_factory,
            outbox_table=healthy._outbox_table,
            inbox_table=healthy._inbox_table,
            source="/tests",
        )
    )
    callers = [asyncio.create_task(batches.record(record(number))) for number in range(2)]
    await asyncio.sleep(0)  # the callers queue; the transaction is created, not yet started
    if started:
        await entered.wait()
    draining = batches._draining
    assert draining is not None
    draining.cancel()

    outcomes = await asyncio.wait_for(asyncio.gather(*callers, return_exceptions=True), 5)
    assert [type(outcome) for outcome in outcomes] == [RuntimeError, RuntimeError]

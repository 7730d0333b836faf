"""The durable timer engine on SQLite: on time, once, retried on failure, traced."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_shared.envelope import derived_event_id
from helpline_shared.events import SlaBreached
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table, utcnow
from helpline_shared.runtime.timers import Timer, TimerLoop, TimerScheduler, timers_table
from helpline_shared.runtime.uow import SqlUnitOfWork

pytestmark = pytest.mark.asyncio

metadata = MetaData()
timers = timers_table(metadata)
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)

UnitOfWorkFactory = Callable[[], SqlUnitOfWork]


@pytest_asyncio.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'timers.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def unit_of_work(engine: AsyncEngine) -> UnitOfWorkFactory:
    session_factory = async_sessionmaker(engine, expire_on_commit=False)
    return lambda: SqlUnitOfWork(
        session_factory, outbox_table=outbox, inbox_table=inbox, source="/helpline/test"
    )


async def schedule(
    unit_of_work: UnitOfWorkFactory, timer_id: str, in_seconds: float, traced: bool = True
) -> bool:
    async with unit_of_work() as uow:
        scheduled = await TimerScheduler(uow.session, timers).schedule(
            timer_id,
            kind="test",
            due_at=utcnow() + timedelta(seconds=in_seconds),
            payload={"ticket_id": timer_id},
            traced=traced,
        )
        await uow.commit()
    return scheduled


def breach_event(timer: Timer) -> SlaBreached:
    return SlaBreached(
        tenant_id="acme",
        ticket_id=str(timer.payload["ticket_id"]),
        occurred_at=timer.due_at,
        metric="first_response",
        deadline=timer.due_at,
        clock_version=1,
        reason="test",
    )


async def lateness_by_timer(engine: AsyncEngine) -> dict[str, float | None]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(timers.c.id, timers.c.due_at, timers.c.fired_at))
        return {
            row.id: (row.fired_at - row.due_at).total_seconds() if row.fired_at else None
            for row in rows
        }


async def published_ids(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        return list((await connection.execute(select(outbox.c.event_id))).scalars())


async def test_due_timers_fire_only_once_when_two_loops_race_for_them(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    fires: Counter[str] = Counter()

    async def fire(uow: SqlUnitOfWork, timer: Timer) -> None:
        fires[timer.id] += 1
        uow.publish(breach_event(timer), event_id=derived_event_id(timer.id))

    # Due a little while ago (time is moved, not waited for), and one not yet due.
    for index in range(6):
        await schedule(unit_of_work, f"timer-{index}", -1.0 + index * 0.15)
    await schedule(unit_of_work, "later", 60)
    loops = [
        TimerLoop(unit_of_work=unit_of_work, table=timers, fire=fire, service="test")
        for _ in range(2)
    ]

    fired = await asyncio.gather(*(loop.fire_due() for loop in loops))

    assert sum(count for count, _next in fired) == 6
    assert fires == {f"timer-{index}": 1 for index in range(6)}
    lateness = await lateness_by_timer(engine)
    assert lateness.pop("later") is None
    assert all(late is not None and late >= 0 for late in lateness.values()), lateness
    assert sorted(await published_ids(engine)) == sorted(
        derived_event_id(f"timer-{index}") for index in range(6)
    )


async def test_failed_fire_rolls_back_retries_and_does_not_block_others(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    attempts: Counter[str] = Counter()

    async def fire(uow: SqlUnitOfWork, timer: Timer) -> None:
        attempts[timer.id] += 1
        uow.publish(breach_event(timer), event_id=derived_event_id(timer.id))
        if timer.id == "flaky" and attempts[timer.id] == 1:
            raise RuntimeError("database hiccup")
        if timer.id == "broken":
            raise RuntimeError("always fails")

    await schedule(unit_of_work, "broken", 0.0)
    await schedule(unit_of_work, "flaky", 0.0)
    await schedule(unit_of_work, "healthy", 0.3)
    now = [utcnow()]  # the loop's clock: moved by the test, never waited for
    loop = TimerLoop(
        unit_of_work=unit_of_work,
        table=timers,
        fire=fire,
        service="test-retry",
        clock=lambda: now[0],
    )
    assert (await loop.fire_due())[0] == 0, "broken and flaky failed; healthy is not due"
    now[0] += timedelta(seconds=0.4)
    assert (await loop.fire_due())[0] == 1, "healthy fires while the others back off"
    now[0] += timedelta(seconds=1.0)
    assert (await loop.fire_due())[0] == 1, "flaky's retry succeeds; broken fails again"
    await loop._housekeeping()

    lateness = await lateness_by_timer(engine)
    assert lateness["broken"] is None
    assert (attempts["flaky"], attempts["healthy"]) == (2, 1)
    assert lateness["healthy"] is not None
    assert sorted(await published_ids(engine)) == sorted(
        [derived_event_id("flaky"), derived_event_id("healthy")]
    )
    assert REGISTRY.get_sample_value("helpline_timers_overdue", {"service": "test-retry"}) == 1


async def test_fire_continues_the_trace_that_scheduled_the_timer(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span("create ticket") as scheduling_span:
        await schedule(unit_of_work, "traced", -0.1)
    scheduling = scheduling_span.get_span_context()

    async def fire(uow: SqlUnitOfWork, timer: Timer) -> None:
        uow.publish(breach_event(timer), event_id=derived_event_id(timer.id))

    loop = TimerLoop(
        unit_of_work=unit_of_work, table=timers, fire=fire, service="test", tracer_provider=provider
    )
    assert (await loop.fire_due())[0] == 1

    [fire_span] = [span for span in exporter.get_finished_spans() if span.name == "test timer fire"]
    assert fire_span.context.trace_id == scheduling.trace_id
    assert fire_span.parent is not None and fire_span.parent.span_id == scheduling.span_id
    async with engine.connect() as connection:
        [headers] = (await connection.execute(select(outbox.c.headers))).scalars()
    traceparent = dict(headers)["traceparent"]
    assert traceparent.split("-")[1] == format(scheduling.trace_id, "032x")
    assert traceparent.split("-")[2] == format(fire_span.context.span_id, "016x")


async def test_an_untraced_timer_fires_in_a_trace_of_its_own(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span("put schedule") as scheduling_span:
        await schedule(unit_of_work, "recurring", -0.1, traced=False)

    async def fire(uow: SqlUnitOfWork, timer: Timer) -> None:
        uow.publish(breach_event(timer), event_id=derived_event_id(timer.id))

    loop = TimerLoop(
        unit_of_work=unit_of_work, table=timers, fire=fire, service="test", tracer_provider=provider
    )
    assert (await loop.fire_due())[0] == 1

    [fire_span] = [span for span in exporter.get_finished_spans() if span.name == "test timer fire"]
    assert fire_span.parent is None
    assert fire_span.context.trace_id != scheduling_span.get_span_context().trace_id


async def test_scheduling_an_existing_timer_keeps_the_first(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    assert await schedule(unit_of_work, "once", 60) is True
    assert await schedule(unit_of_work, "once", 120) is False
    lateness = await lateness_by_timer(engine)
    assert list(lateness) == ["once"]


async def test_stop_returns_promptly_when_nothing_is_due(unit_of_work: UnitOfWorkFactory) -> None:
    async def fire(uow: SqlUnitOfWork, timer: Timer) -> None:
        raise AssertionError("nothing is due")

    loop = TimerLoop(
        unit_of_work=unit_of_work, table=timers, fire=fire, service="test", poll_interval=5.0
    )
    task = asyncio.create_task(loop.run())
    await asyncio.sleep(0.1)
    started = asyncio.get_running_loop().time()
    await loop.stop()
    await task
    assert asyncio.get_running_loop().time() - started < 0.5

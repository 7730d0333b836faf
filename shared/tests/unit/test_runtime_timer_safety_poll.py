"""Commits wake the timer loop; its own polling is only a safety net, not a 0.2 s heartbeat."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest_asyncio
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table
from helpline_shared.runtime.timers import Timer, TimerLoop, timers_table
from helpline_shared.runtime.uow import SqlUnitOfWork

metadata = MetaData()
timers = timers_table(metadata)
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest_asyncio.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'poll.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def fire(uow: SqlUnitOfWork, timer: Timer) -> None:
    """Nothing to do."""


def timer_loop(engine: AsyncEngine) -> TimerLoop[SqlUnitOfWork]:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    return TimerLoop(
        unit_of_work=lambda: SqlUnitOfWork(
            sessions,
            outbox_table=outbox_table(metadata),
            inbox_table=inbox_table(metadata),
            source="/t",
        ),
        table=timers,
        fire=fire,
        service="test",
        poll_interval=0.2,  # what routing and escalation configure
        read_ahead=timedelta(seconds=2),
        clock=lambda: NOW,
    )


async def first_sleeps(loop: TimerLoop[SqlUnitOfWork], count: int) -> list[tuple[float, bool]]:
    """The loop's first ``count`` sleeps: how long, and whether a wake-up was already set."""
    sleeps: list[tuple[float, bool]] = []

    async def sleep(seconds: float) -> None:
        sleeps.append((seconds, loop._wakeup.is_set()))
        loop._wakeup.clear()
        if len(sleeps) == count:
            loop._stopping = True

    loop._sleep = sleep  # type: ignore[method-assign]
    await loop.run()
    return sleeps


async def test_an_idle_loop_looks_again_after_its_read_ahead_not_every_fifth_of_a_second(
    engine: AsyncEngine,
) -> None:
    loop = timer_loop(engine)
    assert await first_sleeps(loop, 2) == [(2.0, False), (2.0, False)]


async def test_a_timer_committed_while_the_loop_sleeps_wakes_it_if_due_before_it_looks(
    engine: AsyncEngine,
) -> None:
    loop = timer_loop(engine)
    loop._next_look = NOW + timedelta(seconds=2)  # asleep until then
    loop.wake_for(NOW + timedelta(seconds=3))
    assert not loop._wakeup.is_set()  # read ahead when the loop looks
    loop.wake_for(NOW + timedelta(seconds=1))
    assert loop._wakeup.is_set()


async def test_a_timer_committed_while_the_loop_looks_makes_it_look_again(
    engine: AsyncEngine,
) -> None:
    loop = timer_loop(engine)
    real_fire_due = loop.fire_due

    async def fire_due() -> tuple[int, datetime | None]:
        fired = await real_fire_due()
        # A consumer's commit lands after the loop read the due times, before it sleeps.
        loop.wake_for(NOW + timedelta(seconds=30))
        return fired

    loop.fire_due = fire_due  # type: ignore[method-assign]
    sleeps = await first_sleeps(loop, 1)
    assert sleeps == [(2.0, True)]  # the sleep ends at once

"""The timer loop's wake-up and its handlers, without waiting for any clock."""

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table, utcnow
from helpline_shared.runtime.timers import (
    NoTimerHandler,
    Timer,
    TimerLoop,
    TimerScheduler,
    TimerTable,
    timers_table,
)
from helpline_shared.runtime.uow import SqlUnitOfWork

metadata = MetaData()
timers = timers_table(metadata)


FireTimer = Callable[[SqlUnitOfWork, Timer], Awaitable[None]]


async def fire(uow: SqlUnitOfWork, timer: Timer) -> None:
    """Nothing to do."""


def loop(
    sessions: async_sessionmaker[AsyncSession] | None = None, fire: FireTimer = fire
) -> TimerLoop[SqlUnitOfWork]:
    made = sessions or async_sessionmaker()
    return TimerLoop(
        unit_of_work=lambda: SqlUnitOfWork(
            made,
            outbox_table=outbox_table(metadata),
            inbox_table=inbox_table(metadata),
            source="/t",
        ),
        table=timers,
        fire=fire,
        service="test",
        poll_interval=0.5,
    )


def test_a_timer_due_before_the_next_poll_wakes_the_loop() -> None:
    timer_loop = loop()
    timer_loop.wake_for(utcnow() + timedelta(seconds=0.1))
    assert timer_loop._wakeup.is_set()


def test_a_timer_due_after_the_next_poll_does_not_wake_the_loop() -> None:
    timer_loop = loop()
    timer_loop.wake_for(utcnow() + timedelta(hours=4))
    assert not timer_loop._wakeup.is_set()


async def test_a_timer_handler_that_commits_is_refused_and_its_timer_stays_due(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'timers.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def commits(uow: SqlUnitOfWork, timer: Timer) -> None:
        await uow.commit()

    try:
        timer_loop = loop(sessions, commits)
        async with timer_loop._unit_of_work() as uow:
            await TimerScheduler(uow.session, timers).schedule(
                "t-1", kind="test", due_at=utcnow(), payload={}
            )
            await uow.commit()
        assert await timer_loop.fire_due() == (0, None)
        async with engine.connect() as connection:
            assert await connection.scalar(select(timers.c.fired_at)) is None
    finally:
        await engine.dispose()


async def test_the_timer_table_fires_each_kind_with_its_handler_and_refuses_others() -> None:
    fired: list[str] = []

    async def breach(uow: SqlUnitOfWork, timer: Timer) -> None:
        fired.append(timer.id)

    table = TimerTable({"sla.breach": breach})
    uow = SqlUnitOfWork(
        async_sessionmaker(),
        outbox_table=outbox_table(metadata),
        inbox_table=inbox_table(metadata),
        source="/t",
    )
    await table(uow, Timer("t-1", "sla.breach", utcnow(), {}, {}))
    with pytest.raises(NoTimerHandler):
        await table(uow, Timer("t-2", "sla.unknown", utcnow(), {}, {}))
    assert fired == ["t-1"] and table.kinds == {"sla.breach"}

"""What the runtime's background loops cost while there is nothing to do."""

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest_asyncio
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table, utcnow
from helpline_shared.runtime.testing import StatementLog
from helpline_shared.runtime.timers import Timer, TimerLoop, TimerScheduler, timers_table
from helpline_shared.runtime.uow import SqlUnitOfWork

metadata = MetaData()
timers = timers_table(metadata)
outbox_table(metadata)
inbox_table(metadata)


@pytest_asyncio.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'idle.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


def timer_loop(engine: AsyncEngine, fired: list[str]) -> TimerLoop[SqlUnitOfWork]:
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def fire(uow: SqlUnitOfWork, timer: Timer) -> None:
        fired.append(timer.id)

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
    )


async def schedule(loop: TimerLoop[SqlUnitOfWork], timer_id: str, in_seconds: float) -> None:
    async with loop._unit_of_work() as uow:
        await TimerScheduler(uow.session, timers).schedule(
            timer_id, kind="test", due_at=utcnow() + timedelta(seconds=in_seconds), payload={}
        )
        await uow.commit()


async def test_a_poll_with_nothing_due_reads_once_and_takes_no_write_lock(
    engine: AsyncEngine,
) -> None:
    fired: list[str] = []
    loop = timer_loop(engine, fired)
    await schedule(loop, "later", 3600)
    log = StatementLog(engine)

    assert await loop.fire_due() == (0, None)

    # Claiming would have begun an IMMEDIATE transaction (SQLite's write lock and the process's
    # writer lock) only to find nothing.
    assert log.count("BEGIN IMMEDIATE") == 0
    assert [s.split()[0] for s in log.statements if s not in ("BEGIN", "ROLLBACK")] == ["SELECT"]
    assert fired == []


async def test_a_timer_read_ahead_as_due_is_claimed_without_reading_again(
    engine: AsyncEngine,
) -> None:
    fired: list[str] = []
    loop = timer_loop(engine, fired)
    await schedule(loop, "soon", 0.5)
    assert (await loop.fire_due())[0] == 0  # read ahead: due within the window, not yet due
    async with engine.begin() as connection:  # as if the loop had slept until it was due
        await connection.execute(timers.update().values(due_at=utcnow()))
    loop._upcoming = [utcnow()]
    log = StatementLog(engine)

    assert (await loop.fire_due())[0] == 1

    assert fired == ["soon"]
    selects = [s for s in log.statements if s.startswith("SELECT")]
    # One claim, then one read-ahead for the next sleep; no read before the claim.
    assert len(selects) == 2 and "timers.id" in selects[0]
    async with engine.connect() as connection:
        assert await connection.scalar(select(timers.c.fired_at)) is not None

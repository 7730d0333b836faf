"""Timers scheduled at commit: one INSERT for all of a transaction's timers, none on rollback."""

from datetime import datetime, timedelta

from runtime_support import RuntimeDatabase
from sqlalchemy import MetaData, select

from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import StatementLog
from helpline_shared.runtime.timers import TimerScheduler, timers_table

timers = timers_table(MetaData())


async def stored(database: RuntimeDatabase) -> list[str]:
    async with database.engine.connect() as connection:
        return list((await connection.scalars(select(timers.c.id).order_by(timers.c.id))).all())


async def test_a_transactions_timers_are_inserted_in_one_statement_at_commit(
    sqlite_runtime: RuntimeDatabase,
) -> None:
    async with sqlite_runtime.engine.begin() as connection:
        await connection.run_sync(timers.metadata.create_all)
    told: list[datetime] = []
    now = utcnow()
    async with sqlite_runtime.unit_of_work() as uow:
        await TimerScheduler(uow.session, timers).schedule("t0", kind="k", due_at=now, payload={})
        await uow.commit()
    log = StatementLog(sqlite_runtime.engine)
    async with sqlite_runtime.unit_of_work() as uow:
        scheduler = TimerScheduler(uow.session, timers, on_scheduled=told.append)
        uow.writes_behind(scheduler)
        for n in range(4):  # "t0" exists: skipped, as schedule skips it
            scheduler.schedule_at_commit(
                f"t{n}", kind="k", due_at=now + timedelta(seconds=n), payload={"n": n}
            )
        scheduler.schedule_at_commit("x1", kind="k", due_at=now, payload={})
        assert await scheduler.cancel_pending("x") == 1  # a kept timer is cancelled too
        await uow.commit()
    assert await stored(sqlite_runtime) == ["t0", "t1", "t2", "t3"]
    assert log.count("INSERT INTO timers") == 1  # flushed together by the cancel
    assert len(told) == 5

    log.clear()
    async with sqlite_runtime.unit_of_work() as uow:
        scheduler = TimerScheduler(uow.session, timers)
        uow.writes_behind(scheduler)
        scheduler.schedule_at_commit("r1", kind="k", due_at=now, payload={})
        scheduler.schedule_at_commit("r2", kind="k", due_at=now, payload={})
        await uow.commit()
    assert log.count("INSERT INTO timers") == 1

    async with sqlite_runtime.unit_of_work() as uow:
        scheduler = TimerScheduler(uow.session, timers)
        uow.writes_behind(scheduler)
        scheduler.schedule_at_commit("gone", kind="k", due_at=now, payload={})
        await uow.rollback()
    assert "gone" not in await stored(sqlite_runtime)

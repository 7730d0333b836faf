"""Durable timers: firing lateness and fires per second at 100,000 pending timers.

Helpline's ``TimerLoop`` (batched claims, each fire writing an event to the outbox in the same
transaction) against APScheduler 3 with its SQLAlchemy job store, both on a SQLite file, on the
same due times in the same run. Two phases per engine:

* steady: ``--timers`` timers due at ``--rate`` per second (lateness p50/p99, achieved fires/s);
* burst: ``--burst`` timers all due at the same instant (drain rate = the engine's capacity).

Run: ``python bench/timers.py [--timers 100000] [--rate 2500] [--burst 20000]``.
"""

import argparse
import asyncio
import pickle
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from common import percentile, write_result
from sqlalchemy import MetaData, create_engine, insert, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from helpline_shared.envelope import derived_event_id
from helpline_shared.events import SlaBreached
from helpline_shared.runtime.db import create_engine as create_async_engine
from helpline_shared.runtime.db import inbox_table, outbox_table
from helpline_shared.runtime.timers import Timer, TimerLoop, timers_table
from helpline_shared.runtime.uow import SqlUnitOfWork

LEAD_SECONDS = 5.0
"""Time between the end of loading and the first due time, so loading never makes a timer late."""

metadata = MetaData()
timers = timers_table(metadata)
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


class Phase:
    """The due offsets (seconds after the phase's start) of one phase's timers."""

    def __init__(self, name: str, offsets: list[float]) -> None:
        self.name = name
        self.offsets = offsets


def phases(count: int, rate: float, burst: int) -> list[Phase]:
    """The steady phase and the burst phase."""
    return [
        Phase("steady", [index / rate for index in range(count)]),
        Phase("burst", [0.0] * burst),
    ]


def summary(
    lateness: list[float],
    first_due: float,
    last_fired: float,
    expected: int,
    unfired_lateness: Sequence[float] = (),
) -> dict[str, float]:
    """Lateness percentiles (unfired timers counted at their lateness so far) and fires/s."""
    span = max(last_fired - first_due, 1e-9)
    fired = len(lateness)
    lateness = [*lateness, *unfired_lateness]
    return {
        "fired": fired,
        "expected": expected,
        "lateness_p50_s": percentile(lateness, 0.50) if lateness else float("inf"),
        "lateness_p99_s": percentile(lateness, 0.99) if lateness else float("inf"),
        "lateness_max_s": max(lateness) if lateness else float("inf"),
        "fires_per_second": fired / span,
    }


async def _fire_breach(uow: SqlUnitOfWork, timer: Timer) -> None:
    uow.publish(
        SlaBreached(
            tenant_id="bench",
            ticket_id=timer.id,
            occurred_at=timer.due_at,
            metric="first_response",
            deadline=timer.due_at,
            clock_version=1,
            reason="bench",
        ),
        event_id=derived_event_id(timer.id),
    )


async def run_helpline(
    phase: Phase, directory: Path, batch_size: int, timeout: float, idle: int = 0
) -> dict[str, float]:
    """Load the phase's timers into a fresh database, fire them with ``TimerLoop``, measure."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{directory / f'helpline-{phase.name}.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        far = datetime.now(UTC) + timedelta(days=1)
        for chunk in range(0, idle, 50_000):
            await connection.execute(
                insert(timers),
                [
                    {
                        "id": f"idle-{index}",
                        "kind": "idle",
                        "due_at": far,
                        "payload": {},
                        "trace_headers": {},
                        "fired_at": None,
                    }
                    for index in range(chunk, min(chunk + 50_000, idle))
                ],
            )
    start = datetime.now(UTC) + timedelta(seconds=LEAD_SECONDS + len(phase.offsets) / 50_000)
    rows: list[dict[str, Any]] = [
        {
            "id": f"{phase.name}-{index}",
            "kind": "bench",
            "due_at": start + timedelta(seconds=offset),
            "payload": {},
            "trace_headers": {},
            "fired_at": None,
        }
        for index, offset in enumerate(phase.offsets)
    ]
    async with engine.begin() as connection:
        for chunk in range(0, len(rows), 10_000):
            await connection.execute(insert(timers), rows[chunk : chunk + 10_000])
    if datetime.now(UTC) > start:
        raise RuntimeError("loading took longer than the lead time; raise LEAD_SECONDS")
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    loop = TimerLoop(
        unit_of_work=lambda: SqlUnitOfWork(
            sessions, outbox_table=outbox, inbox_table=inbox, source="/bench"
        ),
        table=timers,
        fire=_fire_breach,
        service="bench",
        batch_size=batch_size,
    )
    task = asyncio.create_task(loop.run())
    deadline = time.monotonic() + LEAD_SECONDS + max(phase.offsets) + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        async with engine.connect() as connection:
            pending = (
                await connection.execute(
                    select(timers.c.id)
                    .where(timers.c.fired_at.is_(None), timers.c.kind == "bench")
                    .limit(1)
                )
            ).first()
        if pending is None:
            break
    await loop.stop()
    await task
    async with engine.connect() as connection:
        fired = (
            await connection.execute(
                select(timers.c.due_at, timers.c.fired_at).where(timers.c.fired_at.is_not(None))
            )
        ).all()
        published = len((await connection.execute(select(outbox.c.event_id))).all())
    await engine.dispose()
    if published != len(fired):
        raise RuntimeError(f"{len(fired)} timers fired but {published} events in the outbox")
    lateness = [max((row.fired_at - row.due_at).total_seconds(), 0.0) for row in fired]
    last = max((row.fired_at for row in fired), default=start).timestamp()
    return summary(lateness, start.timestamp(), last, len(phase.offsets))


_aps_lateness: dict[int, float] = {}
_aps_last_fired = [0.0]
_aps_lock = threading.Lock()


def aps_job(index: int, due: float) -> None:
    """APScheduler's job: record how late it ran."""
    now = time.time()
    with _aps_lock:
        _aps_lateness[index] = max(now - due, 0.0)
        _aps_last_fired[0] = max(_aps_last_fired[0], now)


def run_apscheduler(
    phase: Phase, directory: Path, timeout: float, idle: int = 0
) -> dict[str, float]:
    """Load the same timers into APScheduler's SQLAlchemy job store, run them, measure."""
    # APScheduler 3 ships no type information.
    from apscheduler.executors.pool import ThreadPoolExecutor  # type: ignore[import-untyped]
    from apscheduler.job import Job  # type: ignore[import-untyped]
    from apscheduler.jobstores.sqlalchemy import (  # type: ignore[import-untyped]
        SQLAlchemyJobStore,
    )
    from apscheduler.schedulers.background import (  # type: ignore[import-untyped]
        BackgroundScheduler,
    )
    from apscheduler.triggers.date import DateTrigger  # type: ignore[import-untyped]

    url = f"sqlite:///{directory / f'apscheduler-{phase.name}.db'}"
    store = SQLAlchemyJobStore(url=url)
    scheduler = BackgroundScheduler(
        jobstores={"default": store}, executors={"default": ThreadPoolExecutor(20)}, timezone=UTC
    )
    _aps_lateness.clear()
    _aps_last_fired[0] = 0.0
    # One INSERT per add_job would take minutes at this size: load the store in bulk instead,
    # with exactly the rows its add_job writes.
    store.start(scheduler, "default")

    def row(job_id: str, index: int, due: datetime) -> dict[str, Any]:
        job = Job(
            scheduler,
            id=job_id,
            func=f"{__name__}:aps_job",
            trigger=DateTrigger(due),
            executor="default",
            args=(index, due.timestamp()),
            kwargs={},
            name="bench",
            misfire_grace_time=None,
            coalesce=False,
            max_instances=1,
            next_run_time=due,
        )
        return {
            "id": job.id,
            "next_run_time": due.timestamp(),
            "job_state": pickle.dumps(job.__getstate__(), store.pickle_protocol),
        }

    engine = create_engine(url)
    far = datetime.now(UTC) + timedelta(days=1)
    for chunk in range(0, idle, 50_000):
        with engine.begin() as connection:
            connection.execute(
                insert(store.jobs_t),
                [
                    row(f"idle-{index}", -1, far)
                    for index in range(chunk, min(chunk + 50_000, idle))
                ],
            )
    start = datetime.now(UTC) + timedelta(seconds=LEAD_SECONDS + len(phase.offsets) / 5_000)
    rows = [
        row(f"{phase.name}-{index}", index, start + timedelta(seconds=offset))
        for index, offset in enumerate(phase.offsets)
    ]
    with engine.begin() as connection:
        connection.execute(insert(store.jobs_t), rows)
    engine.dispose()
    if datetime.now(UTC) > start:
        raise RuntimeError("loading took longer than the lead time")
    store.shutdown()
    scheduler.start()
    deadline = time.monotonic() + LEAD_SECONDS + max(phase.offsets) + timeout
    while time.monotonic() < deadline and len(_aps_lateness) < len(phase.offsets):
        time.sleep(0.5)
    scheduler.pause()
    stopped = time.time()
    time.sleep(1.0)
    with _aps_lock:
        fired = dict(_aps_lateness)
    unfired = [
        stopped - (start.timestamp() + offset)
        for index, offset in enumerate(phase.offsets)
        if index not in fired
    ]
    scheduler.shutdown(wait=False)
    return summary(
        list(fired.values()), start.timestamp(), _aps_last_fired[0], len(phase.offsets), unfired
    )


def _run_helpline_sync(
    phase: Phase, directory: Path, batch_size: int, timeout: float, idle: int
) -> dict[str, float]:
    return asyncio.run(run_helpline(phase, directory, batch_size, timeout, idle))


def measure(name: str, run: Callable[[], dict[str, float]]) -> dict[str, float]:
    """Run one engine's phase and print its figures."""
    figures = run()
    print(f"  {name}: " + ", ".join(f"{key}={value:.4g}" for key, value in figures.items()))
    return figures


def main() -> None:
    """Measure both engines on the same timers and write ``bench/results/timers.json``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timers", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=2_500.0, help="steady due timers per second")
    parser.add_argument("--burst", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--name", default="timers", help="result file name (bench/results/)")
    parser.add_argument(
        "--idle",
        type=int,
        default=0,
        help="extra pending timers due in a day (pending = timers + idle)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds after the last due time before giving up on an engine",
    )
    arguments = parser.parse_args()
    results: dict[str, dict[str, Any]] = {"helpline": {}, "apscheduler": {}}
    with tempfile.TemporaryDirectory(prefix="bench-timers-") as name:
        directory = Path(name)
        for phase in phases(arguments.timers, arguments.rate, arguments.burst):
            print(f"phase {phase.name}: {len(phase.offsets)} timers")
            results["helpline"][phase.name] = measure(
                "helpline",
                partial(
                    _run_helpline_sync,
                    phase,
                    directory,
                    arguments.batch_size,
                    arguments.timeout,
                    arguments.idle,
                ),
            )
            results["apscheduler"][phase.name] = measure(
                "apscheduler 3",
                partial(run_apscheduler, phase, directory, arguments.timeout, arguments.idle),
            )
    steady, burst = results["helpline"]["steady"], results["helpline"]["burst"]
    baseline = results["apscheduler"]["steady"]
    write_result(
        arguments.name,
        metric="steady lateness p99",
        value=steady["lateness_p99_s"],
        unit="s",
        baseline_value=baseline["lateness_p99_s"],
        baseline="APScheduler 3 + SQLAlchemyJobStore (SQLite)",
        target="p99 lateness < 1 s and >= 2,000 fires/s",
        passed=(
            steady["lateness_p99_s"] < 1.0
            and steady["fired"] == steady["expected"]
            and burst["fires_per_second"] >= 2_000
        ),
        higher_is_better=False,
        packages=("sqlalchemy", "aiosqlite", "apscheduler"),
        extra={
            "pending_timers": arguments.timers + arguments.idle,
            "steady_timers": arguments.timers,
            "idle_timers": arguments.idle,
            "steady_rate": arguments.rate,
            "burst_timers": arguments.burst,
            "batch_size": arguments.batch_size,
            "lateness_p50_s": steady["lateness_p50_s"],
            "fires_per_second_burst": burst["fires_per_second"],
            "baseline_fires_per_second_burst": results["apscheduler"]["burst"]["fires_per_second"],
            "results": results,
        },
    )


if __name__ == "__main__":
    main()

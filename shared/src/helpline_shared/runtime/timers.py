"""Durable timers: rows with a due time, fired by a loop through the unit of work and the outbox.

A timer is scheduled in the transaction that decides it is needed, carrying the trace context of
that moment. ``TimerLoop`` claims due timers (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
replicas share the work), calls the service's ``fire`` callback inside a unit of work, and marks
the timer fired in the same transaction. A timer is never fired by two transactions that both
commit; if a fire rolls back, the timer fires again later, so the callback derives its event ids
from the timer id and a re-fire publishes the same event.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from opentelemetry import propagate, trace
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import JSON, Column, Index, MetaData, String, Table, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_shared.runtime.db import (
    UtcDateTime,
    insert_all,
    insert_skipping_present,
    utcnow,
)
from helpline_shared.runtime.outbox import trace_headers
from helpline_shared.runtime.uow import SqlUnitOfWork

log = logging.getLogger(__name__)

UnitOfWorkT = TypeVar("UnitOfWorkT", bound=SqlUnitOfWork)

TIMER_LATENESS = Histogram(
    "helpline_timer_lateness_seconds",
    "How long after its due time a timer fired",
    ["service", "kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
TIMERS_OVERDUE = Gauge(
    "helpline_timers_overdue", "Timers past their due time and not yet fired", ["service"]
)
OLDEST_OVERDUE_AGE = Gauge(
    "helpline_timers_oldest_overdue_age_seconds",
    "How long the oldest unfired due timer has been overdue (0 when none)",
    ["service"],
)
TIMERS_FIRED = Counter("helpline_timers_fired_total", "Timers fired", ["service", "kind"])
TIMER_FAILURES = Counter(
    "helpline_timer_failures_total",
    "Timer fires that failed and will be retried",
    ["service", "kind"],
)


OVERDUE_MEASURE_INTERVAL = timedelta(seconds=1)
PRUNE_INTERVAL = timedelta(minutes=5)
RETRY_BASE_DELAY = timedelta(seconds=0.5)
RETRY_MAX_DELAY = timedelta(minutes=1)
FORGET_RETRIES_AFTER = timedelta(minutes=10)
MIN_SLEEP_SECONDS = 0.01


def timers_table(metadata: MetaData) -> Table:
    """Pending and recently fired timers; the id is chosen by whoever schedules the timer."""
    if "timers" in metadata.tables:
        return metadata.tables["timers"]
    return Table(
        "timers",
        metadata,
        Column("id", String(255), primary_key=True),
        Column("kind", String(64), nullable=False),
        Column("due_at", UtcDateTime, nullable=False),
        Column("payload", JSON, nullable=False),
        Column("trace_headers", JSON, nullable=False),
        Column("fired_at", UtcDateTime, nullable=True),
        Index("ix_timers_pending", "fired_at", "due_at"),
    )


@dataclass(frozen=True)
class Timer:
    """A claimed timer, as the ``fire`` callback sees it."""

    id: str
    kind: str
    due_at: datetime
    payload: Mapping[str, Any]
    trace_headers: Mapping[str, str]


FireTimer = Callable[[UnitOfWorkT, Timer], Awaitable[None]]


class NoTimerHandler(LookupError):
    """A timer of a kind the service's timer table has no handler for."""


class TimerTable(Generic[UnitOfWorkT]):
    """The function that fires each timer kind, for one service's timer loop (its ``fire``).

    Like the consumer's handler table, a timer handler works in the unit of work the loop gives
    it and never opens or commits it.
    """

    def __init__(self, handlers: Mapping[str, FireTimer[UnitOfWorkT]]) -> None:
        self._handlers = dict(handlers)

    @property
    def kinds(self) -> frozenset[str]:
        """The timer kinds this table fires."""
        return frozenset(self._handlers)

    async def __call__(self, uow: UnitOfWorkT, timer: Timer) -> None:
        """Fire ``timer`` with the handler of its kind."""
        fire = self._handlers.get(timer.kind)
        if fire is None:
            raise NoTimerHandler(timer.kind)
        await fire(uow, timer)


def _timer_row(
    timer_id: str, kind: str, due_at: datetime, payload: Mapping[str, Any], traced: bool
) -> dict[str, Any]:
    return {
        "id": timer_id,
        "kind": kind,
        "due_at": due_at,
        "payload": dict(payload),
        "trace_headers": dict(trace_headers()) if traced else {},
        "fired_at": None,
    }


class TimerScheduler:
    """Schedules timers inside the caller's transaction (they exist only if it commits).

    ``schedule`` inserts a timer at once and tells whether one with its id existed;
    ``schedule_at_commit`` keeps it in memory and ``flush`` (the commit, when the scheduler is
    registered with ``SqlUnitOfWork.writes_behind``) inserts every kept timer in one statement,
    ``ON CONFLICT DO NOTHING`` as each would be: for callers that need not learn whether a timer
    with that id existed, one INSERT per transaction instead of one per timer.
    """

    def __init__(
        self,
        session: AsyncSession,
        table: Table,
        on_scheduled: Callable[[datetime], None] | None = None,
    ) -> None:
        """``on_scheduled`` is told the due time of each timer scheduled."""
        self._session = session
        self._table = table
        self._on_scheduled = on_scheduled
        self._kept: dict[str, dict[str, Any]] = {}

    async def schedule(
        self,
        timer_id: str,
        *,
        kind: str,
        due_at: datetime,
        payload: Mapping[str, Any],
        traced: bool = True,
    ) -> bool:
        """Schedule a timer unless one with ``timer_id`` exists; True if it was scheduled.

        A traced timer fires in the trace that scheduled it; an untraced one (a recurring
        occurrence, which would otherwise chain every occurrence into one endless trace) starts
        a trace of its own.
        """
        result = await self._session.execute(
            self._insert(), _timer_row(timer_id, kind, due_at, payload, traced)
        )
        scheduled = bool(getattr(result, "rowcount", 0))
        if scheduled and self._on_scheduled is not None:
            self._on_scheduled(due_at)
        return scheduled

    def schedule_at_commit(
        self,
        timer_id: str,
        *,
        kind: str,
        due_at: datetime,
        payload: Mapping[str, Any],
        traced: bool = True,
    ) -> None:
        """Schedule a timer unless one with ``timer_id`` exists, inserted by ``flush`` with the
        others kept (its trace is the one current now, as with ``schedule``)."""
        self._kept.setdefault(timer_id, _timer_row(timer_id, kind, due_at, payload, traced))
        if self._on_scheduled is not None:
            self._on_scheduled(due_at)

    async def flush(self) -> None:
        """Insert the timers kept so far, in one statement."""
        kept, self._kept = list(self._kept.values()), {}
        await insert_all(self._session, self._table, kept, skipping_present=True)

    def discard(self) -> None:
        """Forget the timers kept so far (the transaction rolled back)."""
        self._kept = {}

    def _insert(self) -> Any:
        return insert_skipping_present(self._session.get_bind().dialect.name, self._table)

    async def cancel_pending(self, id_prefix: str) -> int:
        """Remove the timers not fired yet whose id starts with ``id_prefix``; how many."""
        if any(timer_id.startswith(id_prefix) for timer_id in self._kept):
            await self.flush()  # a kept timer is removed too
        result = await self._session.execute(
            delete(self._table).where(
                self._table.c.id.startswith(id_prefix, autoescape=True),
                self._table.c.fired_at.is_(None),
            )
        )
        return int(getattr(result, "rowcount", 0))


class TimerLoop(Generic[UnitOfWorkT]):
    """Fires due timers, many per transaction, until stopped; never dies of an error.

    A batch of due timers is claimed and fired in one unit of work: their events and their
    ``fired_at`` marks commit together, or not at all. If any fire of a batch fails, the batch rolls
    back and its timers are fired one per transaction, so one bad timer backs off alone. A
    read-ahead window of upcoming due times is kept in memory so the loop wakes when the next
    timer is due rather than at the next poll. Commits wake the loop for the timers they
    schedule (``wake_for``): an idle loop looks again only after the read-ahead window, as a
    safety net for timers other processes scheduled (or ``poll_interval``, if longer).
    """

    def __init__(
        self,
        *,
        unit_of_work: Callable[[], UnitOfWorkT],
        table: Table,
        fire: FireTimer[UnitOfWorkT],
        service: str,
        poll_interval: float = 0.2,
        batch_size: int = 100,
        retention: timedelta = timedelta(days=1),
        tracer_provider: trace.TracerProvider | None = None,
        read_ahead: timedelta = timedelta(seconds=2),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock  # injected by tests: time is moved, not waited for
        self._table = table
        self._fire = fire
        self._service = service
        self._poll_interval = max(poll_interval, read_ahead.total_seconds())
        self._batch_size = batch_size
        self._retention = retention
        self._read_ahead = max(read_ahead, timedelta(seconds=poll_interval))
        # While the loop reads or fires, any timer committed meanwhile wakes it; while it
        # sleeps, only one due before it looks again.
        self._looking = False
        self._next_look: datetime | None = None
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._finished: asyncio.Event | None = None
        # Failed fires back off in memory only: after a restart they are simply retried at once.
        self._retries: dict[str, tuple[int, datetime]] = {}
        self._upcoming: list[datetime] = []
        self._last_measured: datetime | None = None
        self._last_pruned: datetime | None = None

    def wake(self) -> None:
        """Look for due timers now instead of at the next poll."""
        self._upcoming = []
        self._wakeup.set()

    def wake_for(self, due_at: datetime) -> None:
        """A timer due at ``due_at`` was committed: wake now only if it is due before the loop
        looks again by itself (a later one is read ahead then)."""
        next_look = self._next_look or self._clock() + timedelta(seconds=self._poll_interval)
        if self._looking or due_at < next_look:
            self.wake()

    async def fire_due(self) -> tuple[int, datetime | None]:
        """Fire the timers due now, a batch per transaction; return how many fired and when next.

        Unless the read-ahead already holds a due timer, the due times are read first, without
        the write lock: an idle poll is one read, not a claim that takes the lock to find nothing.
        """
        if not (self._upcoming and self._upcoming[0] <= self._clock()):
            next_due = await self._read_upcoming(self._backing_off())
            if next_due is None or next_due > self._clock():
                return 0, next_due
        fired = 0
        # Bounded so that stop() and housekeeping get their turn under a flood of due timers.
        for _ in range(10):
            if self._stopping:
                break
            batch_fired, claimed = await self._fire_batch(self._backing_off())
            fired += batch_fired
            if claimed < self._batch_size:
                return fired, await self._read_upcoming(self._backing_off())
        self._upcoming = [self._clock()]
        return fired, self._clock()

    async def _fire_batch(self, backing_off: set[str]) -> tuple[int, int]:
        async with self._unit_of_work() as uow:
            claimed = await self._claim_due(uow.session, backing_off, self._batch_size)
            if not claimed:
                return 0, 0
            try:
                for timer in claimed:
                    await self._fire_traced(uow, timer)
                fired_at = await self._mark_fired(uow, claimed)
                await uow.commit()
            except Exception:  # noqa: BLE001 - the batch is retried one timer at a time below
                log.warning(
                    "timer batch failed; firing its timers one by one",
                    extra={"batch_size": len(claimed)},
                )
                await uow.rollback()
            else:
                self._observe(claimed, fired_at)
                return len(claimed), len(claimed)
        fired = 0
        for timer in claimed:
            fired += await self._fire_alone(timer)
        return fired, len(claimed)

    async def _fire_alone(self, timer: Timer) -> int:
        async with self._unit_of_work() as uow:
            claimed = await self._claim_due(uow.session, set(), 1, timer_id=timer.id)
            if not claimed:
                return 0  # fired meanwhile by another replica
            try:
                await self._fire_traced(uow, claimed[0])
                fired_at = await self._mark_fired(uow, claimed)
                await uow.commit()
            except Exception:  # noqa: BLE001 - one bad timer must not stop the others
                self._back_off(timer)
                return 0
        self._retries.pop(timer.id, None)
        self._observe(claimed, fired_at)
        return 1

    def _observe(self, fired: list[Timer], fired_at: datetime) -> None:
        for timer in fired:
            TIMER_LATENESS.labels(self._service, timer.kind).observe(
                max((fired_at - timer.due_at).total_seconds(), 0.0)
            )
            TIMERS_FIRED.labels(self._service, timer.kind).inc()

    def _backing_off(self) -> set[str]:
        now = self._clock()
        for timer_id in [
            key
            for key, (_, retry_at) in self._retries.items()
            if now - retry_at > FORGET_RETRIES_AFTER
        ]:
            del self._retries[timer_id]
        return {key for key, (_, retry_at) in self._retries.items() if retry_at > now}

    def _back_off(self, timer: Timer) -> None:
        attempts = self._retries.get(timer.id, (0, self._clock()))[0] + 1
        delay = min(RETRY_BASE_DELAY * 2 ** (attempts - 1), RETRY_MAX_DELAY)
        self._retries[timer.id] = (attempts, self._clock() + delay)
        TIMER_FAILURES.labels(self._service, timer.kind).inc()
        log.exception(
            "timer fire failed; it will be retried",
            extra={
                "timer_kind": timer.kind,
                "timer_id": timer.id,
                "attempt": attempts,
                "retry_in_seconds": delay.total_seconds(),
            },
        )

    async def run(self) -> None:
        """Fire timers until ``stop``; failures are logged and retried, never fatal."""
        self._finished = asyncio.Event()
        try:
            while not self._stopping:
                delay = self._poll_interval
                self._looking = True
                try:
                    await self.fire_due()
                    await self._housekeeping()
                    delay = self._until_next_due()
                except Exception:  # the loop must outlive database outages
                    log.exception("timer loop cycle failed; retrying")
                    delay = 1.0
                finally:
                    self._looking = False
                self._next_look = self._clock() + timedelta(seconds=delay)
                await self._sleep(delay)
                self._next_look = None
        finally:
            self._finished.set()

    def _until_next_due(self) -> float:
        if not self._upcoming:
            return self._poll_interval
        until_due = (self._upcoming[0] - self._clock()).total_seconds()
        # A due timer may be locked by another replica's fire: re-poll soon, but do not spin.
        return min(self._poll_interval, max(until_due, MIN_SLEEP_SECONDS))

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop after the batch being fired, if any, has committed."""
        self._stopping = True
        self._wakeup.set()
        if self._finished is not None:
            try:
                await asyncio.wait_for(self._finished.wait(), timeout)
            except TimeoutError:
                log.warning("timer loop did not stop in time; its fire will be retried")

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)
        self._wakeup.clear()

    async def _claim_due(
        self, session: AsyncSession, skipped: set[str], limit: int, *, timer_id: str | None = None
    ) -> list[Timer]:
        table = self._table
        query = (
            select(table.c.id, table.c.kind, table.c.due_at, table.c.payload, table.c.trace_headers)
            .where(table.c.fired_at.is_(None), table.c.due_at <= self._clock())
            .order_by(table.c.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if timer_id is not None:
            query = query.where(table.c.id == timer_id)
        if skipped:
            query = query.where(table.c.id.not_in(skipped))
        return [
            Timer(
                id=row.id,
                kind=row.kind,
                due_at=row.due_at,
                payload=row.payload,
                trace_headers=row.trace_headers,
            )
            for row in await session.execute(query)
        ]

    async def _read_upcoming(self, skipped: set[str]) -> datetime | None:
        """Load the due times of the next timers within the read-ahead window; return the first."""
        table = self._table
        query = (
            select(table.c.due_at)
            .where(table.c.fired_at.is_(None), table.c.due_at <= self._clock() + self._read_ahead)
            .order_by(table.c.due_at)
            .limit(self._batch_size)
        )
        if skipped:
            query = query.where(table.c.id.not_in(skipped))
        async with self._unit_of_work().read_only() as uow:
            self._upcoming = list((await uow.session.execute(query)).scalars())
        return self._upcoming[0] if self._upcoming else None

    async def _fire_traced(self, uow: UnitOfWorkT, timer: Timer) -> None:
        parent = propagate.extract(dict(timer.trace_headers))
        with (
            self._tracer.start_as_current_span(
                f"{timer.kind} timer fire",
                context=parent,
                kind=trace.SpanKind.INTERNAL,
                attributes={
                    "helpline.timer.kind": timer.kind,
                    "helpline.timer.due_at": timer.due_at.isoformat(),
                },
            ),
            uow.lent_to_handler(),
        ):
            await self._fire(uow, timer)

    async def _mark_fired(self, uow: UnitOfWorkT, timers: list[Timer]) -> datetime:
        fired_at = self._clock()
        await uow.session.execute(
            update(self._table)
            .where(self._table.c.id.in_([timer.id for timer in timers]))
            .values(fired_at=fired_at)
        )
        return fired_at

    async def _housekeeping(self) -> None:
        now = self._clock()
        if self._last_measured and now - self._last_measured < OVERDUE_MEASURE_INTERVAL:
            return
        self._last_measured = now
        table = self._table
        prune = not self._last_pruned or now - self._last_pruned >= PRUNE_INTERVAL
        unit_of_work = self._unit_of_work()
        async with unit_of_work if prune else unit_of_work.read_only() as uow:
            overdue, oldest_due_at = (
                await uow.session.execute(
                    select(func.count(), func.min(table.c.due_at)).where(
                        table.c.fired_at.is_(None), table.c.due_at <= now
                    )
                )
            ).one()
            if prune:
                await uow.session.execute(
                    delete(table).where(table.c.fired_at < now - self._retention)
                )
                await uow.commit()
                self._last_pruned = now
        TIMERS_OVERDUE.labels(self._service).set(overdue)
        oldest_age = (now - _aware(oldest_due_at)).total_seconds() if oldest_due_at else 0.0
        OLDEST_OVERDUE_AGE.labels(self._service).set(oldest_age)


def _aware(value: datetime | str) -> datetime:
    """A UTC datetime from an aggregate, which bypasses the column type on SQLite."""
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

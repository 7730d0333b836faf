"""The unit of work every service's handlers use: one transaction, its events, its inbox entries."""

import contextlib
import functools
import json
import logging
import weakref
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, NamedTuple, Protocol, Self, TypeVar

from sqlalchemy import Table, TextClause, delete, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable
from sqlalchemy.sql.dml import ReturningInsert

from helpline_shared.events import Event
from helpline_shared.runtime import outbox
from helpline_shared.runtime.db import (
    READ_ONLY,
    insert_skipping_present,
    read_only_options,
    utcnow,
)

log = logging.getLogger(__name__)


class WrittenBehind(Protocol):
    """A repository that keeps its writes until the commit (or a read of its own that needs
    them), to write each kind of row of a batch in one statement."""

    async def flush(self) -> None:
        """Write what is kept now."""

    def discard(self) -> None:
        """Forget what is kept: the transaction rolled back."""


AfterCommit = Callable[[], None]


class TransactionOwnedByRuntime(RuntimeError):
    """A handler tried to open, commit, roll back or claim: the runtime does that for it."""


class AppliedBefore(Exception):
    """A claim made at commit met an event this consumer had applied before: the transaction
    rolls back, and its events are applied again one per transaction, each claimed first."""


class RowWrittenBefore(IntegrityError):
    """An INSERT of rows not looked for first met a row written before: the transaction fails,
    and applying its events again (one per transaction) looks for those rows first."""


class LookFirst:
    """The keys of rows whose INSERT without looking met a row written before, for one database.

    Only a hint: the unique key in the database is what refuses a second row. A key another
    replica (or process) met is not here, so its next INSERT fails once more and marks it here;
    a key here is looked for once, then forgotten. Either way the row is never written twice,
    which is why several replicas stay correct. Kept per database (``look_first_of``), not per
    process: a key met in one database says nothing of another.
    """

    def __init__(self) -> None:
        self._keys: set[Hashable] = set()

    def take(self, key: Hashable) -> bool:
        """Whether ``key`` is to be looked for first (once: the look is made now)."""
        if key not in self._keys:
            return False
        self._keys.discard(key)
        return True

    def mark(self, keys: Iterable[Hashable]) -> None:
        """Look for these keys first next time."""
        self._keys.update(keys)


KeptT = TypeVar("KeptT")


def per_database(
    kept: "weakref.WeakKeyDictionary[object, KeptT]",
    session_factory: object,
    new: Callable[[], KeptT],
) -> KeptT:
    """What ``kept`` holds for the database ``session_factory`` opens sessions on (its engine:
    every factory on it shares one), made by ``new`` the first time."""
    database = getattr(session_factory, "kw", {}).get("bind") or session_factory
    value = kept.get(database)
    if value is None:
        value = kept[database] = new()
    return value


_LOOK_FIRST: "weakref.WeakKeyDictionary[object, LookFirst]" = weakref.WeakKeyDictionary()


def look_first_of(session_factory: object) -> LookFirst:
    """The keys to look for first in the database ``session_factory`` opens sessions on."""
    return per_database(_LOOK_FIRST, session_factory, LookFirst)


class OptimisticInserts:
    """The rows one transaction inserts without looking for them first (rows announced once,
    such as a new ticket, are almost never there): one INSERT at commit, no SELECT before.

    If the INSERT (or one of rows that depend on them) meets a row written before, every key
    this transaction inserted so is marked in ``LookFirst`` and ``RowWrittenBefore`` fails the
    transaction; the consumer then applies its events one per transaction (``apply_alone``
    does the same), where a marked key is looked for first, as if it had always been.
    """

    def __init__(self, look_first: LookFirst) -> None:
        self._look_first = look_first
        self._inserting: set[Hashable] = set()

    def without_looking(self, key: Hashable) -> bool:
        """Whether the row of ``key`` may be inserted without looking for it first (then noted
        here); False when an INSERT met it before: look for it now."""
        if self._look_first.take(key):
            return False
        self._inserting.add(key)
        return True

    async def execute(
        self, session: AsyncSession, statement: Executable, rows: Sequence[dict[str, Any]]
    ) -> None:
        """Run ``statement`` for ``rows`` (rows noted here, or rows that exist only if they
        are new); meeting a row written before marks every key noted here."""
        try:
            await session.execute(statement, rows)
        except IntegrityError as error:
            self._look_first.mark(self._inserting)
            orig = error.orig if error.orig is not None else error
            raise RowWrittenBefore(error.statement, error.params, orig) from error


class SqlUnitOfWork:
    """Wraps one database transaction; events published in it reach the outbox on commit."""

    wake_timers: Callable[[datetime], None] | None = None
    """Told, after a commit, the earliest due time of the timers it scheduled
    (``TimerScheduler(on_scheduled=uow.timer_scheduled)``; set by the service's bootstrap)."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        outbox_table: Table,
        inbox_table: Table,
        source: str,
        topic_prefix: str = "",
        on_commit: AfterCommit = lambda: None,
        relay: outbox.OutboxRelay | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._outbox_table = outbox_table
        self._inbox_table = inbox_table
        self._source = source
        self._topic_prefix = topic_prefix
        self._on_commit = on_commit
        self._relay = relay
        self._pending: list[dict[str, object]] = []
        self._claim: tuple[str, list[str]] | None = None
        self._after_commit: list[AfterCommit] = []
        self._behind: tuple[WrittenBehind, ...] = ()
        self._session: AsyncSession | None = None
        self._read_only = False
        self._lent = False
        self._earliest_due: datetime | None = None

    @property
    def session(self) -> AsyncSession:
        """The open session; only inside ``async with``."""
        if self._session is None:
            raise RuntimeError("the unit of work is not open")
        return self._session

    def read_only(self) -> Self:
        """Mark this unit of work as one that only reads (on SQLite it takes no write lock)."""
        self._read_only = True
        return self

    async def __aenter__(self) -> Self:
        self._refuse_if_lent("open")
        self._session = self._session_factory()
        self._pending = []
        self._claim = None
        self._after_commit = []
        self._behind = ()
        self._earliest_due = None
        if self._read_only:
            dialect = self._session.get_bind().dialect.name
            await self._session.connection(execution_options=read_only_options(dialect))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._lent = False
        try:
            await self.rollback()
        finally:
            await self.session.close()
            self._session = None

    @contextlib.contextmanager
    def lent_to_handler(self) -> Iterator[Self]:
        """While a handler runs: opening, committing, rolling back or claiming is refused."""
        self._lent = True
        try:
            yield self
        finally:
            self._lent = False

    def _refuse_if_lent(self, action: str) -> None:
        if self._lent:
            raise TransactionOwnedByRuntime(
                f"a handler may not {action} the unit of work; the runtime does"
            )

    def publish(self, event: Event, *, event_id: str | None = None) -> None:
        """Publish ``event`` if and when this unit of work commits.

        The event is encoded now, so it carries the trace context current at this call.
        """
        self._pending.append(
            outbox.outbox_row(
                event, source=self._source, event_id=event_id, topic_prefix=self._topic_prefix
            )
        )

    def after_commit(self, hook: AfterCommit) -> None:
        """Call ``hook`` once this unit of work has committed (never if it rolls back)."""
        self._after_commit.append(hook)

    async def claim_event(self, consumer: str, event_id: str) -> bool:
        """Record that ``consumer`` applies ``event_id`` now; False if it already has."""
        return event_id in await self.claim_events(consumer, [event_id])

    async def claim_events(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        """Record, in one statement, that ``consumer`` applies these events now; return the ids
        it had not applied before."""
        self._refuse_if_lent("claim events in")
        if not event_ids:
            return set()
        # Parameters apart from the statement: one compiled statement whatever the batch size
        # (SQLAlchemy sends the rows as one multi-row INSERT, "insertmanyvalues").
        result = await self.session.execute(
            _claim(self._inbox_table, self.session.get_bind().dialect.name),
            _claim_rows(consumer, dict.fromkeys(event_ids)),
        )
        return set(result.scalars())

    async def release_events(self, consumer: str, event_ids: Sequence[str]) -> None:
        """Undo, in one statement, this transaction's claims of events it did not apply."""
        self._refuse_if_lent("release events in")
        inbox = self._inbox_table
        await self.session.execute(
            delete(inbox).where(inbox.c.consumer == consumer, inbox.c.event_id.in_(event_ids))
        )

    def claim_at_commit(self, consumer: str, event_ids: Sequence[str]) -> None:
        """Record at commit, in the statement that stages the outbox rows, that ``consumer``
        applied these events (distinct ids) in this transaction; if one was applied before,
        the commit fails with ``AppliedBefore`` and nothing of the transaction is kept.

        For batches, where an event applied before is rare (a redelivery after a crash or a
        rebalance): no claim statement, and no round trip, before the handlers run.
        """
        self._refuse_if_lent("claim events in")
        self._claim = (consumer, list(event_ids)) if event_ids else None

    def writes_behind(self, *repositories: WrittenBehind) -> None:
        """This transaction's repositories that keep writes: flushed (in this order) before
        its commit, discarded by its rollback."""
        self._behind = repositories

    async def flush(self) -> None:
        """Write what the repositories keep behind, without committing."""
        for repository in self._behind:
            await repository.flush()

    async def commit(self) -> None:
        """Write what was kept behind, commit the change and its events together, then hand
        the events to the relay and run the after-commit hooks."""
        self._refuse_if_lent("commit")
        await self.flush()
        staged, self._pending = self._pending, []
        committing = utcnow()
        for row in staged:
            # The relay's poll leaves rows committed less than its grace ago to the hand-off.
            row["created_at"] = committing
        claim, self._claim = self._claim, None
        await self.session.run_sync(
            _write_and_commit,
            _Writes(self._outbox_table, staged, self._inbox_table, claim),
            self._relay,
        )
        hooks, self._after_commit = self._after_commit, []
        if staged and self._relay is not None:
            self._relay.hand_off(staged)
        self._on_commit()
        for hook in hooks:
            try:
                hook()
            except Exception:  # the transaction is committed: a hook must not undo that
                log.exception("after-commit hook failed")

    async def rollback(self) -> None:
        """Discard the change and the events it would have published."""
        self._refuse_if_lent("roll back")
        for repository in self._behind:
            repository.discard()
        self._pending = []
        self._claim = None
        self._after_commit = []
        self._earliest_due = None
        if self.session.in_transaction():
            # After a commit there is nothing to roll back: no call into the session (each
            # is a greenlet hop), as every unit of work ends with this rollback.
            await self.session.rollback()

    def optimistic_inserts(self) -> OptimisticInserts:
        """A record of the rows this transaction inserts without looking for them first, for
        the repositories that do (looked for next time in this database if the commit meets
        one; see ``OptimisticInserts``)."""
        return OptimisticInserts(look_first_of(self._session_factory))

    def timer_scheduled(self, due_at: datetime) -> None:
        """Note a timer this transaction scheduled: after the commit, ``wake_timers`` is told
        the earliest one, once (the loop decides whether it is due before its next poll)."""
        if self.wake_timers is None:
            return
        if self._earliest_due is None:
            self.after_commit(self._wake_timer_loop)
        if self._earliest_due is None or due_at < self._earliest_due:
            self._earliest_due = due_at

    def _wake_timer_loop(self) -> None:
        due_at, self._earliest_due = self._earliest_due, None
        if due_at is not None and self.wake_timers is not None:
            self.wake_timers(due_at)


@functools.cache
def insert_unless_present(table: Table, dialect: str, returned: str) -> ReturningInsert[Any]:
    """``insert_skipping_present`` returning column ``returned`` of the rows it inserted (built
    once per table and dialect)."""
    insert: ReturningInsert[Any] = insert_skipping_present(dialect, table).returning(
        table.c[returned]
    )
    return insert


def _claim(inbox: Table, dialect: str) -> ReturningInsert[Any]:
    """The statement claiming inbox rows, returning the ids it inserted."""
    return insert_unless_present(inbox, dialect, "event_id")


def _claim_rows(consumer: str, event_ids: Iterable[str]) -> list[dict[str, object]]:
    """The parameters of ``_claim`` for these events, claimed now."""
    now = utcnow()
    return [
        {"consumer": consumer, "event_id": event_id, "processed_at": now} for event_id in event_ids
    ]


class _Writes(NamedTuple):
    """What a commit writes besides the repositories' rows: outbox rows and an inbox claim."""

    outbox: Table
    rows: list[dict[str, object]]
    inbox: Table
    claim: tuple[str, list[str]] | None


def _write_and_commit(session: Session, writes: _Writes, relay: outbox.OutboxRelay | None) -> None:
    """Stage the outbox rows, claim the inbox rows, mark sent what ``relay`` published since the
    last commit, and commit, in one call from the event loop (``AsyncSession.run_sync``): one
    greenlet hop instead of one per step. On PostgreSQL the three writes are one statement: one
    round trip (each statement is one, through the event loop and a backend wake-up).
    """
    sent = (
        relay.take_published()
        # A unit of work that only reads holds no write lock: it writes nothing.
        if relay is not None
        and relay.has_published
        and not READ_ONLY.items() <= session.connection().get_execution_options().items()
        else []
    )
    try:
        if session.get_bind().dialect.name == "postgresql":
            _write_in_one_statement(session, writes, sent)
        else:
            _write_statement_by_statement(session, writes, sent)
        session.commit()
    except BaseException:
        if relay is not None and sent:
            relay.give_back(sent)
        raise
    if relay is not None and sent:
        relay.marked(sent)


def _write_statement_by_statement(session: Session, writes: _Writes, sent: list[str]) -> None:
    """SQLite: claim, stage and mark sent, each one statement of the driver's own SQL."""
    if writes.claim is None and not writes.rows and not sent:
        return
    connection = session.connection()
    statements = _driver_statements(writes.outbox, writes.inbox, connection.dialect)
    if writes.claim is not None:
        consumer, event_ids = writes.claim
        if statements.claim(connection, consumer, event_ids) != len(event_ids):
            raise AppliedBefore(f"{consumer} applied some of these events before")
    if writes.rows:
        statements.stage(connection, writes.rows)
    if sent:
        statements.mark_sent(connection, sent, utcnow())


Processor = Callable[[Any], Any] | None


def _processor(column: Any, dialect: Any) -> Processor:
    """What SQLAlchemy does to a value of ``column`` before handing it to the driver."""
    processor: Processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    return processor


class _DriverStatements:
    """SQLite: a commit's claim, outbox rows and mark-sent as the driver's own SQL, each value
    converted by its column's bind processor (as SQLAlchemy would), built once per tables and
    dialect. Executed through the session's connection (``exec_driver_sql``: its events see
    every statement), but without compiling a statement or building parameters per row, which
    cost more CPU than the statements themselves (an executemany of a compiled INSERT builds
    each row's parameters through the compiler)."""

    STAGED = ("event_id", "topic", "record_key", "record_value", "headers", "created_at")

    def __init__(self, outbox_table: Table, inbox_table: Table, dialect: Any) -> None:
        self._claim = (
            f"INSERT INTO {inbox_table.fullname} (consumer, event_id, processed_at)"
            " VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
        )
        self._processed_at = _processor(inbox_table.c.processed_at, dialect)
        self._stage = (
            f"INSERT INTO {outbox_table.fullname} ({', '.join(self.STAGED)})"
            f" VALUES ({', '.join('?' * len(self.STAGED))})"
        )
        self._staged = [(name, _processor(outbox_table.c[name], dialect)) for name in self.STAGED]
        self._outbox = outbox_table.fullname
        self._sent_at = _processor(outbox_table.c.sent_at, dialect)
        self._mark_sent: dict[int, str] = {}
        """The mark-sent statement by number of rows (one text each, built once)."""

    def claim(self, connection: Any, consumer: str, event_ids: Sequence[str]) -> int:
        """Insert the inbox rows not present; how many it inserted."""
        now = utcnow()
        at = now if self._processed_at is None else self._processed_at(now)
        result = connection.exec_driver_sql(
            self._claim, [(consumer, event_id, at) for event_id in event_ids]
        )
        inserted: int = result.rowcount
        return inserted

    def stage(self, connection: Any, rows: Sequence[dict[str, object]]) -> None:
        """Insert the outbox rows, in their order."""
        staged = self._staged
        connection.exec_driver_sql(
            self._stage,
            [
                tuple(
                    row[name] if processor is None else processor(row[name])
                    for name, processor in staged
                )
                for row in rows
            ],
        )

    def mark_sent(self, connection: Any, event_ids: Sequence[str], now: datetime) -> None:
        """Mark these outbox rows sent at ``now``."""
        at = now if self._sent_at is None else self._sent_at(now)
        statement = self._mark_sent.get(len(event_ids))
        if statement is None:
            statement = self._mark_sent[len(event_ids)] = (
                f"UPDATE {self._outbox} SET sent_at = ?"
                f" WHERE event_id IN ({', '.join('?' * len(event_ids))})"
            )
        connection.exec_driver_sql(statement, (at, *event_ids))


_OfDialect = dict[tuple[Table, Table], _DriverStatements]
_DRIVER_STATEMENTS: "weakref.WeakKeyDictionary[Any, _OfDialect]" = weakref.WeakKeyDictionary()


def _driver_statements(outbox_table: Table, inbox_table: Table, dialect: Any) -> _DriverStatements:
    """The ``_DriverStatements`` of these tables on this engine's dialect (kept with it)."""
    of_dialect = _DRIVER_STATEMENTS.get(dialect)
    if of_dialect is None:
        of_dialect = _DRIVER_STATEMENTS[dialect] = {}
    statements = of_dialect.get((outbox_table, inbox_table))
    if statements is None:
        statements = of_dialect[outbox_table, inbox_table] = _DriverStatements(
            outbox_table, inbox_table, dialect
        )
    return statements


def _write_in_one_statement(session: Session, writes: _Writes, sent: list[str]) -> None:
    if writes.claim is None and not writes.rows and not sent:
        return
    consumer, event_ids = writes.claim if writes.claim is not None else ("", [])
    rows = writes.rows
    claimed = session.execute(
        _claim_stage_and_mark(writes.outbox, writes.inbox),
        {
            "consumer": consumer,
            "claimed": event_ids,
            "now": utcnow(),
            "event_ids": [row["event_id"] for row in rows],
            "topics": [row["topic"] for row in rows],
            "record_keys": [row["record_key"] for row in rows],
            "record_values": [row["record_value"] for row in rows],
            "headers": [json.dumps(row["headers"]) for row in rows],
            "created": [row["created_at"] for row in rows],
            "sent": sent,
        },
    ).scalar_one()
    if claimed != len(event_ids):
        raise AppliedBefore(f"{consumer} applied some of these events before")


@functools.cache
def _claim_stage_and_mark(outbox_table: Table, inbox_table: Table) -> TextClause:
    """PostgreSQL: claim inbox rows, insert outbox rows (in the order given) and mark outbox
    rows sent, in one statement of array parameters, prepared once whatever the numbers of
    rows; it returns how many inbox rows it claimed. Its mark-sent finds rows by ``event_id``
    alone: the unique index serves it whatever is unsent, a generic plan made on an empty outbox
    too (the connection's ``random_page_cost``, see ``db.create_engine``).
    """
    return text(
        f"""
        WITH claimed AS (
            INSERT INTO {inbox_table.fullname} (consumer, event_id, processed_at)
            SELECT CAST(:consumer AS VARCHAR), claimed_id, CAST(:now AS TIMESTAMPTZ)
            FROM unnest(CAST(:claimed AS VARCHAR[])) AS claimed_id
            ON CONFLICT DO NOTHING
            RETURNING 1
        ), staged AS (
            INSERT INTO {outbox_table.fullname}
                (event_id, topic, record_key, record_value, headers, created_at)
            SELECT event_id, topic, record_key, record_value, headers, created_at
            FROM unnest(
                CAST(:event_ids AS VARCHAR[]),
                CAST(:topics AS VARCHAR[]),
                CAST(:record_keys AS BYTEA[]),
                CAST(:record_values AS BYTEA[]),
                CAST(:headers AS JSON[]),
                CAST(:created AS TIMESTAMPTZ[])
            ) WITH ORDINALITY
                AS row (event_id, topic, record_key, record_value, headers, created_at, n)
            ORDER BY n
        ), marked AS (
            UPDATE {outbox_table.fullname} SET sent_at = CAST(:now AS TIMESTAMPTZ)
            WHERE event_id = ANY(CAST(:sent AS VARCHAR[]))
        )
        SELECT count(*) FROM claimed
        """
    )

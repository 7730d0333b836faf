"""Database engines and the tables every service keeps for delivery: outbox and inbox."""

import asyncio
import contextlib
import functools
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    TextClause,
    TypeDecorator,
    event,
    pool,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.util import await_only

from helpline_shared.runtime import sqlite_in_loop
from helpline_shared.runtime.sqlite_in_loop import BUSY_TIMEOUT, READ_ONLY_OPTION, WriterLock

READ_ONLY: dict[str, object] = {READ_ONLY_OPTION: True}
"""Execution options of a connection that only reads: on SQLite it takes no write lock."""
AUTOCOMMIT: dict[str, object] = {"isolation_level": "AUTOCOMMIT"}


def read_only_options(dialect_name: str) -> dict[str, object]:
    """``READ_ONLY`` for a connection of ``dialect_name``; on PostgreSQL also AUTOCOMMIT.

    Under READ COMMITTED each statement reads its own snapshot, inside a transaction or not:
    without one, the reads cost no BEGIN and no ROLLBACK round trip.
    """
    if dialect_name == "sqlite":
        return READ_ONLY
    return {**READ_ONLY, **AUTOCOMMIT}


_HOLDS_WRITE_LOCK = "helpline_holds_write_lock"


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalise to UTC before storing."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return aware UTC datetimes whatever the backend gave back."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def dialect_insert(dialect_name: str) -> Any:
    """The ``insert`` of a dialect, PostgreSQL's or SQLite's: the one with ``ON CONFLICT``."""
    return postgresql.insert if dialect_name == "postgresql" else sqlite.insert


@functools.cache
def insert_skipping_present(dialect_name: str, table: Table) -> Any:
    """An INSERT of ``table`` rows that skips a row whose key is present (``ON CONFLICT DO
    NOTHING``), built once per dialect and table: it is immutable, and one built once has its
    cache key computed once."""
    return dialect_insert(dialect_name)(table).on_conflict_do_nothing()


@functools.cache
def _unnest_insert_all(
    table: Table, columns: tuple[str, ...], skipping_present: bool
) -> TextClause:
    conflict = " ON CONFLICT DO NOTHING" if skipping_present else ""
    return text(unnest_insert(table, "r", columns) + conflict)


@functools.cache
def _insert_all(dialect: str, table: Table, skipping_present: bool) -> Any:
    return insert_skipping_present(dialect, table) if skipping_present else table.insert()


async def insert_all(
    session: AsyncSession,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    skipping_present: bool = False,
) -> None:
    """Insert ``rows`` (each with the same columns, in their order) in one statement;
    ``skipping_present``: a row whose key is present is left out (``ON CONFLICT DO NOTHING``).

    On PostgreSQL one statement of arrays (``unnest_insert``): one text for any number of rows
    and one execution on the server, where an executemany runs the INSERT once per row. On
    SQLite an executemany of one statement built once (its rows apart from it)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        columns = tuple(rows[0])
        await session.execute(
            _unnest_insert_all(table, columns, skipping_present),
            unnest_parameters(table, "r", rows, columns),
        )
        return
    # One row alone is no executemany.
    await session.execute(
        _insert_all(dialect, table, skipping_present), rows[0] if len(rows) == 1 else list(rows)
    )


def unnest_insert(table: Table, prefix: str, columns: Sequence[str] | None = None) -> str:
    """PostgreSQL: ``INSERT INTO table (columns) SELECT`` the rows given as one array parameter
    per column (``:{prefix}_{name}``), in their order: the same text for any number of rows (an
    executemany or an expanded list is a new prepared statement per batch size)."""
    names = [column.name for column in table.columns] if columns is None else list(columns)
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    arrays = ", ".join(
        f"CAST(:{prefix}_{name} AS {table.c[name].type.compile(dialect=dialect)}[])"
        for name in names
    )
    listed = ", ".join(names)
    return (
        f"INSERT INTO {table.name} ({listed}) SELECT {listed}"
        f" FROM unnest({arrays}) WITH ORDINALITY AS given ({listed}, ordinal) ORDER BY ordinal"
    )


def unnest_upsert(
    table: Table, prefix: str, columns: Sequence[str], key: Sequence[str], updated: Sequence[str]
) -> str:
    """PostgreSQL: ``unnest_insert`` of ``columns``; a row whose ``key`` is present gets the
    ``updated`` columns set to the given values instead (``ON CONFLICT (key) DO UPDATE``). A
    key given twice in one execution is refused by PostgreSQL: give each key once."""
    assignments = ", ".join(f"{name} = EXCLUDED.{name}" for name in updated)
    return (
        f"{unnest_insert(table, prefix, columns)}"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {assignments}"
    )


def unnest_update(table: Table, prefix: str, key: str, columns: Sequence[str]) -> str:
    """PostgreSQL: ``UPDATE table SET`` ``columns`` of the rows whose ``key`` is given, the
    rows given as one array parameter per column, key included (``:{prefix}_{name}``,
    ``unnest_parameters``): the same text for any number of rows, one execution on the server
    (an executemany runs the UPDATE once per row there). A key given twice updates its row
    once, with either row's values: give each key once."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    names = [key, *columns]
    arrays = ", ".join(
        f"CAST(:{prefix}_{name} AS {table.c[name].type.compile(dialect=dialect)}[])"
        for name in names
    )
    assignments = ", ".join(f"{name} = given.{name}" for name in columns)
    return (
        f"UPDATE {table.name} SET {assignments}"
        f" FROM unnest({arrays}) AS given ({', '.join(names)})"
        f" WHERE {table.name}.{key} = given.{key}"
    )


def unnest_parameters(
    table: Table,
    prefix: str,
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str] | None = None,
) -> dict[str, list[Any]]:
    """The array parameters of ``unnest_insert`` for ``rows`` (JSON values as text)."""
    names = [column.name for column in table.columns] if columns is None else list(columns)
    arrays = {}
    for name in names:
        values = [row[name] for row in rows]
        if isinstance(table.c[name].type, JSON):
            values = [None if value is None else json.dumps(value) for value in values]
        arrays[f"{prefix}_{name}"] = values
    return arrays


@contextlib.contextmanager
def refused_as(conflict: Exception | None) -> Iterator[None]:
    """Writing a row a unique key guards: the key's refusal is raised as ``conflict``.

    A service looks for the row first, but a concurrent transaction (PostgreSQL) may write it
    after that look: the caller gets the answer the look would have given, not a 500. With
    ``conflict`` None (no key of the caller's can refuse the row) the refusal is raised as is.
    """
    try:
        yield
    except IntegrityError as error:
        if conflict is None:
            raise
        raise conflict from error


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def outbox_table(metadata: MetaData) -> Table:
    """Events written in the same transaction as the change that caused them, until relayed."""
    if "outbox" in metadata.tables:
        return metadata.tables["outbox"]
    return Table(
        "outbox",
        metadata,
        Column(
            "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("topic", String(255), nullable=False),
        Column("record_key", LargeBinary, nullable=False),
        Column("record_value", LargeBinary, nullable=False),
        Column("headers", JSON, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("sent_at", UtcDateTime, nullable=True),
        Index("ix_outbox_unsent", "sent_at", "id"),
    )


def inbox_table(metadata: MetaData) -> Table:
    """The ``ce_id`` of each event a consumer has applied, written in the applying transaction."""
    if "processed_events" in metadata.tables:
        return metadata.tables["processed_events"]
    return Table(
        "processed_events",
        metadata,
        Column("consumer", String(128), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("processed_at", UtcDateTime, nullable=False),
    )


RANDOM_PAGE_COST = "1.1"
"""PostgreSQL's cost of reading a page out of order on a service's connections (see
``create_engine``)."""

SQLITE_POOL_SIZE = 16
"""Connections an SQLite engine keeps open in the event loop's thread."""

WAL_AUTOCHECKPOINT_PAGES = 10_000
"""WAL pages after which a commit in the loop's thread checkpoints (SQLite's default: 1,000).

A checkpoint copies the WAL into the database and syncs both: a commit that ran one (every
1,000 pages, a few hundred tickets) held the event loop for it, 8-15 ms for 2,000 pages on this
machine. A service checkpoints in a thread instead (``WalCheckpoints``), well before this many
pages; the limit only bounds the WAL of an engine without one (a tool, a test)."""


class WalCheckpoints:
    """PASSIVE checkpoints of an SQLite file's WAL on a connection of their own, in a thread:
    the copy and its syncs happen off the event loop, and a PASSIVE checkpoint waits for no
    reader and no writer (frames a reader still needs are left for the next one)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None
        self._written: int | None = None

    @classmethod
    def of(cls, engine: AsyncEngine) -> "WalCheckpoints | None":
        """The checkpoints of ``engine``'s SQLite file; None for PostgreSQL or ``:memory:``."""
        url = engine.url
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return cls(url.database)

    async def checkpoint(self) -> tuple[int, int] | None:
        """Checkpoint what no reader needs; the WAL's frames and those checkpointed (None: the
        WAL was not written since the last checkpoint, which then needs no thread)."""
        try:
            written = os.stat(f"{self._path}-wal").st_mtime_ns
        except FileNotFoundError:
            return None
        if written == self._written:
            return None
        self._written = written
        return await asyncio.to_thread(self._checkpoint)

    def _checkpoint(self) -> tuple[int, int]:
        if self._connection is None:
            # Any thread of the pool may run the next checkpoint; one runs at a time.
            self._connection = sqlite3.connect(self._path, check_same_thread=False)
            self._connection.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
        _busy, frames, checkpointed = self._connection.execute(
            "PRAGMA wal_checkpoint(PASSIVE)"
        ).fetchone()
        return int(frames), int(checkpointed)

    def close(self) -> None:
        """Close the checkpoints' connection."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def create_engine(url: str, *, in_loop: bool = True, **options: Any) -> AsyncEngine:
    """Create the service's async engine; SQLite gets WAL and one in-process writer at a time.

    Every SQLite URL (``sqlite+aiosqlite://`` included) runs on ``sqlite_in_loop``'s driver,
    in the event loop's thread, unless ``in_loop`` is False (aiosqlite's thread, as before).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # No pre-ping: it cost a round trip per checkout (9% of notify's CPU in the pipeline
        # profile). A connection found dead after a database restart invalidates the pool;
        # the request answers 503 and the consumer retries, both on fresh connections.
        if parsed.get_driver_name() == "asyncpg":
            # asyncpg prepares each statement once per connection, and after five executions
            # PostgreSQL may keep a generic plan costed on the tables of that moment: on the
            # empty tables of a fresh start, a lookup by key (``id = ANY(...)``) costed a
            # sequential scan cheaper than its index at the default random_page_cost of 4
            # (a disk's seek), and kept scanning while the table grew (routing's queue update:
            # 2.7 ms a call in a burst of 8,000, pipeline.py --pg-statements). A service's
            # pages are in memory or on SSD: 1.1, the usual setting there, makes the index the
            # cheaper plan from the first row. The caller's own ``server_settings`` win.
            connect_args = options.setdefault("connect_args", {})
            connect_args.setdefault("server_settings", {}).setdefault(
                "random_page_cost", RANDOM_PAGE_COST
            )
        return create_async_engine(url, **options)
    if in_loop:
        parsed = parsed.set(drivername=f"sqlite+{sqlite_in_loop.dialect.driver}")
        if "poolclass" not in options and sqlite_in_loop.dialect.get_pool_class(parsed) is not (
            pool.StaticPool
        ):
            # A connection is a file handle here, not a server process: keep as many as the
            # concurrent requests use, instead of opening (and setting up) one per transaction
            # beyond the queue pool's default five.
            options.setdefault("pool_size", SQLITE_POOL_SIZE)
            # The connection used last: its page cache is the one still valid (SQLite drops a
            # connection's cache when another connection wrote since). First in, first out
            # handed out the least recently used of the 16: intake read 48.8 pages from the
            # file per ticket, 6.8 with this (strace -c of bench/intake_http_cpu.py --served).
            options.setdefault("pool_use_lifo", True)
    elif parsed.get_driver_name() != "aiosqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    engine = create_async_engine(parsed, **options)
    busy_timeout_ms = 0 if in_loop else int(sqlite_in_loop.BUSY_TIMEOUT * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (or the in-loop dialect) emit BEGIN instead of the driver's deferred one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Only for writers of other processes (migrations, tools): this process's writers
        # queue on the writer lock and never meet SQLite's busy handler and its sleeps. In the
        # loop the handler is off: the in-loop driver waits for the lock with asyncio.sleep.
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        if in_loop:
            cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    writer = WriterLock()
    if in_loop:
        # The dialect begins each transaction itself (``InLoopConnection.begin``).
        engine.dialect.writer = writer  # type: ignore[attr-defined]
        _end_turns(engine, _end_turn)
    else:
        _begin_on_event(engine, writer)
    return engine


def _begin_on_event(engine: AsyncEngine, writer: WriterLock) -> None:
    """aiosqlite: what ``InLoopConnection.begin`` does, from the engine's ``begin`` event."""

    @event.listens_for(engine.sync_engine, "begin")
    def _sqlite_begin(connection: Any) -> None:
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN")
            return
        if _HOLDS_WRITE_LOCK not in connection.info:
            connection.info[_HOLDS_WRITE_LOCK] = await_only(writer.acquire())
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    def _release(_dbapi_connection: Any, record: Any) -> None:
        held = record.info.pop(_HOLDS_WRITE_LOCK, None) if record is not None else None
        if held is not None and held.locked():
            held.release()

    _end_turns(engine, _release)


def _end_turns(engine: AsyncEngine, release: Callable[[Any, Any], None]) -> None:
    """Call ``release`` when a connection goes back to the pool, after its COMMIT or ROLLBACK
    completed (the engine's commit event fires before it), or is dropped."""

    def _release(dbapi_connection: Any, record: Any, *_args: Any) -> None:
        release(dbapi_connection, record)

    for ending in ("checkin", "invalidate", "detach"):
        event.listen(engine.sync_engine, ending, _release)


def _end_turn(dbapi_connection: Any, _record: Any) -> None:
    # None at the check-in of a connection invalidated before (its turn ended then).
    if dbapi_connection is not None:
        dbapi_connection.end_turn()

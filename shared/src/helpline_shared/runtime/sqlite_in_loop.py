"""SQLite for SQLAlchemy's asyncio engine, with ``sqlite3`` called in the event loop's thread.

aiosqlite runs every call on a thread of its own: each statement is a queue put, a thread wake-up,
a ``call_soon_threadsafe`` through the loop's self-pipe and a GIL hand-over each way, which the
pipeline profile showed costing far more CPU than the statement itself (a statement on a local
WAL file with ``synchronous=NORMAL`` takes microseconds). This driver is the standard ``sqlite3``
module, as SQLAlchemy's synchronous ``pysqlite`` dialect uses it, made usable by the asyncio
engine. What a thread gave that matters is kept:

- A transaction that may write first waits for this process's write turn (``WriterLock``),
  then takes SQLite's write lock up front (``BEGIN IMMEDIATE``); one that only reads (execution
  option ``helpline_read_only``) begins a plain ``BEGIN``. The dialect's ``do_begin`` does it on
  the ``sqlite3`` connection directly: no engine event, no statement through SQLAlchemy's
  execution path (and, the engine having no connection events, none of their dispatch on every
  statement).
- SQLite's own busy handler would sleep in the loop while another process (a migration, a tool)
  holds the write lock, so it is off (``timeout=0``) and a busy statement is retried with
  ``asyncio.sleep`` for up to ``BUSY_TIMEOUT`` seconds: other tasks run meanwhile. Writers of
  this process queue on ``WriterLock`` and never meet it.
- A statement does block the loop while SQLite runs it: fine for the short statements of a
  service; a long report query would stall other tasks as long as it runs.

URLs: ``sqlite+inloop:///path``; ``db.create_engine`` uses this driver for every SQLite URL.
"""

import asyncio
import sqlite3
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Self, TypeVar, cast

from greenlet import getcurrent  # type: ignore[import-untyped]  # SQLAlchemy asyncio's own
from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL, Connection
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.util.concurrency import await_, in_greenlet

READ_ONLY_OPTION = "helpline_read_only"
"""Execution option of a connection that only reads: it takes no write lock."""
BUSY_TIMEOUT = 10.0
"""Seconds a statement waits for another process's lock before failing with SQLITE_BUSY."""
BUSY_FIRST_DELAY = 0.001
BUSY_MAX_DELAY = 0.05
_RETRIED_CODES = frozenset(
    {
        5,  # SQLITE_BUSY
        261,  # SQLITE_BUSY_RECOVERY: another connection is recovering the WAL
        773,  # SQLITE_BUSY_TIMEOUT
    }
)
"""Busy codes that a retry of the same statement can get past (SQLITE_BUSY_SNAPSHOT cannot)."""

T = TypeVar("T")


def is_busy(error: sqlite3.OperationalError) -> bool:
    """True when ``error`` is SQLite saying another connection holds a lock for now."""
    return getattr(error, "sqlite_errorcode", None) in _RETRIED_CODES


async def _nothing() -> None:
    return None


def _wait(seconds: float) -> None:
    if in_greenlet():
        await_(asyncio.sleep(seconds))
    else:  # a sync caller (a pool clean-up at garbage collection): no loop to give way to
        time.sleep(seconds)


def _busy_retried(call: Callable[[], T]) -> T:
    """``call()``, retried while SQLite is busy."""
    try:
        return call()
    except sqlite3.OperationalError as error:
        if not is_busy(error):
            raise
        return _retry_busy(call, error)


def _run(call: Callable[[], T]) -> T:
    """``call()``, retried while SQLite is busy, then (once per greenlet) one switch to the
    loop's greenlet.

    The switch is there because SQLAlchemy's ``AsyncConnection.execute`` checks that the driver
    awaited something (``AwaitRequired``); the awaitable is already done, so it costs a greenlet
    switch, not a turn of the event loop. The check is per greenlet (one per call from the
    loop), so the statements after the first of a ``run_sync`` (a commit's claim, outbox rows,
    mark-sent) need none.
    """
    result = _busy_retried(call)
    current = getcurrent()
    if getattr(current, "__sqlalchemy_greenlet_provider__", False) and not getattr(
        current, _SWITCHED, False
    ):
        await_(_nothing())
        setattr(current, _SWITCHED, True)
    return result


_SWITCHED = "helpline_switched"


def _retry_busy(call: Callable[[], T], error: sqlite3.OperationalError) -> T:
    deadline = time.monotonic() + BUSY_TIMEOUT
    delay = BUSY_FIRST_DELAY
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise error
        _wait(min(delay, remaining))
        delay = min(delay * 2, BUSY_MAX_DELAY)
        try:
            return call()
        except sqlite3.OperationalError as again:
            if not is_busy(again):
                raise
            error = again


class InLoopCursor:
    """A DBAPI cursor over a ``sqlite3`` cursor; its rows are fetched when it executes, as
    SQLAlchemy's aiosqlite adapter does, so a result outlives its transaction the same way."""

    server_side = False
    __slots__ = ("_cursor", "_rows", "arraysize", "description", "lastrowid", "rowcount")

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._cursor = connection.cursor()
        self._rows: deque[Any] = deque()
        self.arraysize = 1
        self.description: Any = None
        self.lastrowid: int | None = None
        self.rowcount = -1

    def execute(self, operation: str, parameters: Any = None) -> Self:
        """Run ``operation``; while another process holds the lock, give way and retry."""
        cursor = self._cursor
        arguments = () if parameters is None else parameters
        _run(lambda: cursor.execute(operation, arguments))
        self._took(cursor)
        return self

    def executemany(self, operation: str, seq_of_parameters: Iterable[Any]) -> Self:
        """Run ``operation`` for each parameter set, as ``execute`` does."""
        cursor = self._cursor
        rows = (
            seq_of_parameters if isinstance(seq_of_parameters, Sequence) else [*seq_of_parameters]
        )
        _run(lambda: cursor.executemany(operation, rows))
        self._took(cursor)
        return self

    def _took(self, cursor: sqlite3.Cursor) -> None:
        self.description = cursor.description
        self.rowcount = cursor.rowcount
        self.lastrowid = cursor.lastrowid
        self._rows = deque(cursor.fetchall()) if cursor.description else deque()

    def fetchone(self) -> Any:
        """The next row, or None."""
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        """Up to ``size`` (or ``arraysize``) next rows."""
        rows = self._rows
        return [rows.popleft() for _ in range(min(size or self.arraysize, len(rows)))]

    def fetchall(self) -> list[Any]:
        """Every remaining row."""
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def __iter__(self) -> Iterator[Any]:
        while self._rows:
            yield self._rows.popleft()

    def close(self) -> None:
        """Forget the rows and close the ``sqlite3`` cursor."""
        self._rows.clear()
        self._cursor.close()

    async def _async_soft_close(self) -> None:
        """What SQLAlchemy's asyncio result calls after executing: the rows are already here."""

    def setinputsizes(self, *sizes: Any) -> None:
        """DBAPI no-op."""


def begin_statement(read_only: bool) -> str:
    """How ``InLoopConnection.begin`` begins a transaction that only reads, or may write."""
    return "BEGIN" if read_only else "BEGIN IMMEDIATE"


class WriterLock:
    """One SQLite writer at a time in this process, queued in order, per event loop."""

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    async def acquire(self) -> asyncio.Lock:
        """Wait for this process's write turn; release the returned lock to end it."""
        lock = self._lock()
        await lock.acquire()
        return lock


class InLoopConnection:
    """A DBAPI connection over a ``sqlite3`` connection, used in the event loop's thread."""

    __slots__ = ("_connection", "read_only", "write_turn")

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self.read_only = False
        """Set by the execution option ``helpline_read_only``; cleared at check-in."""
        self.write_turn: asyncio.Lock | None = None
        """The process's write turn while this connection holds it (released at check-in)."""

    def begin(self, writer: WriterLock | None) -> None:
        """Begin a transaction: a reader's snapshot, or a writer's lock taken up front (after
        waiting for this process's write turn from ``writer``).

        A deferred transaction that reads and then writes could fail with SQLITE_BUSY after
        another writer committed; WAL readers see a snapshot and never wait for the writer.
        """
        if self.read_only:
            self._connection.execute(begin_statement(read_only=True))
            return
        if writer is not None and self.write_turn is None:
            self.write_turn = await_(writer.acquire())
        _busy_retried(lambda: self._connection.execute(begin_statement(read_only=False)))

    def end_turn(self) -> None:
        """Back in the pool: release the write turn, forget the execution options."""
        self.read_only = False
        turn, self.write_turn = self.write_turn, None
        if turn is not None and turn.locked():
            turn.release()

    @property
    def driver_connection(self) -> sqlite3.Connection:
        """The ``sqlite3`` connection."""
        return self._connection

    @property
    def isolation_level(self) -> str | None:
        """``sqlite3``'s transaction mode (None: SQLAlchemy's events emit BEGIN)."""
        return self._connection.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: Any) -> None:
        self._connection.isolation_level = value

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open."""
        return self._connection.in_transaction

    def create_function(self, *args: Any, **kwargs: Any) -> None:
        """Register an SQL function (SQLAlchemy adds ``regexp`` and ``floor``)."""
        self._connection.create_function(*args, **kwargs)

    def cursor(self, server_side: bool = False) -> InLoopCursor:
        """A new cursor (rows are always fetched at once: ``server_side`` changes nothing)."""
        return InLoopCursor(self._connection)

    def execute(self, operation: str, parameters: Any = None) -> InLoopCursor:
        """Run ``operation`` on a new cursor."""
        return self.cursor().execute(operation, parameters)

    def commit(self) -> None:
        """Commit; while another process holds the lock, give way and retry (no switch to
        the loop: no caller of a commit checks that the driver awaited)."""
        _busy_retried(self._connection.commit)

    def rollback(self) -> None:
        """Roll back."""
        self._connection.rollback()

    def close(self) -> None:
        """Close the ``sqlite3`` connection."""
        self._connection.close()

    def terminate(self) -> None:
        """Close at once (nothing to wait for: no thread, no network)."""
        self._connection.close()


class SQLiteDialect_inloop(SQLiteDialect_pysqlite):
    """The ``pysqlite`` dialect as an asyncio dialect, its connections ``InLoopConnection``."""

    driver = "inloop"
    is_async = True
    has_terminate = True
    supports_statement_cache = True
    writer: WriterLock | None = None
    """This engine's writers' queue (``db.create_engine`` sets one per engine)."""

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        """The asyncio queue pool for a file, one shared connection for ``:memory:``."""
        return pool.AsyncAdaptedQueuePool if cls._is_url_file_db(url) else pool.StaticPool

    def connect(self, *args: Any, **kwargs: Any) -> DBAPIConnection:
        """A ``sqlite3`` connection whose busy handler never sleeps in the loop (the cursor
        retries instead), wrapped for the asyncio engine."""
        kwargs["timeout"] = 0
        return cast(DBAPIConnection, InLoopConnection(sqlite3.connect(*args, **kwargs)))

    def do_begin(self, dbapi_connection: Any) -> None:
        """``InLoopConnection.begin``, for the pool's proxy of one."""
        cast(InLoopConnection, dbapi_connection.dbapi_connection).begin(self.writer)

    def set_connection_execution_options(
        self, connection: Connection, opts: Mapping[str, Any]
    ) -> None:
        """Also note ``helpline_read_only`` on the connection, for its next ``BEGIN``."""
        super().set_connection_execution_options(connection, opts)
        if READ_ONLY_OPTION in opts:
            proxied = connection.connection.dbapi_connection
            cast(InLoopConnection, proxied).read_only = bool(opts[READ_ONLY_OPTION])

    def get_driver_connection(self, connection: DBAPIConnection) -> Any:
        """The ``sqlite3`` connection inside ours."""
        return cast(InLoopConnection, connection).driver_connection

    def do_terminate(self, dbapi_connection: DBAPIConnection) -> None:
        """Close at once (nothing to wait for: no thread, no network)."""
        cast(InLoopConnection, dbapi_connection).terminate()


dialect = SQLiteDialect_inloop

registry.register("sqlite.inloop", __name__, "SQLiteDialect_inloop")

"""SQLite in the event loop's thread: no driver thread, busy locks waited out without blocking."""

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_shared.runtime import sqlite_in_loop
from helpline_shared.runtime.db import READ_ONLY, create_engine

metadata = MetaData()
items = Table("items", metadata, Column("id", Integer, primary_key=True), Column("name", String))


@pytest_asyncio.fixture
async def path(tmp_path: Path) -> Path:
    return tmp_path / "in-loop.db"


@pytest_asyncio.fixture
async def engine(path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(items)) or 0)


async def test_sqlite_urls_run_in_the_loop_thread_without_a_driver_thread(
    engine: AsyncEngine,
) -> None:
    threads = threading.active_count()
    async with engine.begin() as connection:
        await connection.execute(insert(items).values(name="a"))
        await connection.execute(insert(items), [{"name": "b"}, {"name": "c"}])
    assert await count(engine) == 3
    assert engine.dialect.driver == "inloop"
    # aiosqlite starts a thread per connection and hops to it for every statement.
    assert threading.active_count() == threads


async def test_results_are_fetched_with_the_statement_and_outlive_their_transaction(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(items), [{"name": str(n)} for n in range(5)])
        result = await connection.execute(select(items.c.name).order_by(items.c.id))
    assert result.scalars().all() == ["0", "1", "2", "3", "4"]


async def test_a_writer_waits_for_another_process_lock_without_blocking_the_loop(
    engine: AsyncEngine, path: Path
) -> None:
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process's migration holds the write lock
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    asyncio.get_running_loop().call_later(0.1, lambda: other.execute("COMMIT"))
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(items).values(name="after the migration"))
    finally:
        ticker.cancel()
        other.close()
    assert await count(engine) == 1
    # SQLite's own busy handler would have slept in the loop: nothing else would have run.
    assert ticks > 10


async def test_readers_are_not_stopped_by_another_process_writer(
    engine: AsyncEngine, path: Path
) -> None:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO items (name) VALUES ('uncommitted')")
    try:
        async with engine.connect() as connection:
            await connection.execution_options(**READ_ONLY)
            assert await connection.scalar(select(func.count()).select_from(items)) == 0
    finally:
        other.execute("ROLLBACK")
        other.close()


async def test_a_lock_held_past_the_busy_timeout_fails_the_statement(
    engine: AsyncEngine, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_in_loop, "BUSY_TIMEOUT", 0.05)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="database is locked"):
            async with engine.begin() as connection:
                await connection.execute(insert(items).values(name="never"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    async with engine.begin() as connection:  # the writer lock was given back
        await connection.execute(insert(items).values(name="later"))
    assert await count(engine) == 1


@pytest.mark.parametrize(
    ("in_loop", "driver", "busy_timeout"), [(True, "inloop", 0), (False, "aiosqlite", 10_000)]
)
async def test_sqlite_busy_handler_sleeps_only_on_a_driver_thread(
    path: Path, in_loop: bool, driver: str, busy_timeout: int
) -> None:
    engine = create_engine(f"sqlite:///{path}", in_loop=in_loop)
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(text("PRAGMA busy_timeout")) == busy_timeout
        assert engine.dialect.driver == driver
    finally:
        await engine.dispose()

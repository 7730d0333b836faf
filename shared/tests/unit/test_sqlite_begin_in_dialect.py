"""The in-loop SQLite dialect begins transactions itself: no engine event, same locking."""

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_shared.runtime.db import READ_ONLY, create_engine


def another_process_can_write(path: Path) -> bool:
    """Whether a connection outside the engine gets SQLite's write lock now."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return False
    finally:
        other.close()
    return True


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncEngine:
    made = create_engine(f"sqlite:///{tmp_path / 'begin.db'}", pool_size=1, max_overflow=0)
    async with made.begin() as connection:
        await connection.execute(text("CREATE TABLE t (n INTEGER)"))
    return made


async def test_an_in_loop_engine_has_no_connection_events(engine: AsyncEngine) -> None:
    # A "begin" listener made SQLAlchemy dispatch connection events around every statement,
    # and ran BEGIN IMMEDIATE through its whole execution path.
    assert engine.sync_engine._has_events is False
    await engine.dispose()


async def test_a_writer_takes_the_write_lock_up_front_and_a_reader_does_not(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with engine.connect() as reader:
        await reader.execution_options(**READ_ONLY)
        async with reader.begin():
            await reader.execute(text("SELECT count(*) FROM t"))
            assert another_process_can_write(tmp_path / "begin.db")
    # Back in the pool, the same connection forgets that it only read.
    async with engine.begin() as writer:
        assert not another_process_can_write(tmp_path / "begin.db")
        await writer.execute(text("SELECT count(*) FROM t"))
    assert another_process_can_write(tmp_path / "begin.db")
    await engine.dispose()


async def test_writers_of_this_process_take_turns(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (n INTEGER)"))
    order: list[str] = []
    first_began = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> None:
        async with engine.begin() as connection:
            order.append("first began")
            first_began.set()
            await release_first.wait()
            await connection.execute(text("INSERT INTO t VALUES (1)"))
            order.append("first writes")

    async def second() -> None:
        await first_began.wait()
        async with engine.begin() as connection:
            order.append("second began")
            await connection.execute(text("INSERT INTO t VALUES (2)"))

    async def reader() -> None:
        await first_began.wait()
        async with engine.connect() as connection:
            await connection.execution_options(**READ_ONLY)
            async with connection.begin():
                await connection.execute(text("SELECT count(*) FROM t"))
        order.append("reader done")
        release_first.set()

    await asyncio.gather(first(), second(), reader())

    # The reader did not wait for the writer; the second writer waited for the first's turn.
    assert order == ["first began", "reader done", "first writes", "second began"]
    await engine.dispose()

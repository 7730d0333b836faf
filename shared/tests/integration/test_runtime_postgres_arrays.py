"""Writes of many rows as one statement of arrays on PostgreSQL (``insert_all``,
``unnest_update``, ``unnest_upsert``): one execution on the server however many rows, each
value stored as SQLAlchemy would store it; ``insert_all`` is an executemany on SQLite."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from runtime_support import RoundTrips
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, Text, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from helpline_devstack.postgres import PostgresServer
from helpline_devstack.testing import unique_name
from helpline_shared.runtime.db import (
    UtcDateTime,
    create_engine,
    insert_all,
    unnest_parameters,
    unnest_update,
    unnest_upsert,
)

pytestmark = pytest.mark.integration

metadata = MetaData()
items = Table(
    "items",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("n", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("data", JSON, nullable=True),
    Column("note", Text, nullable=True),
)
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _row(key: str, n: int, **more: Any) -> dict[str, Any]:
    return {"id": key, "n": n, "at": AT + timedelta(minutes=n), "data": {"n": [n]}, **more}


async def _engine(url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(params=["postgres", "sqlite"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """The table on PostgreSQL, then on SQLite."""
    if request.param == "postgres":
        postgres: PostgresServer = request.getfixturevalue("postgres")
        url = postgres.create_database(unique_name("arrays"))
    else:
        url = f"sqlite:///{tmp_path / 'arrays.db'}"
    async for engine in _engine(url):
        yield engine


@pytest_asyncio.fixture
async def postgres_engine(postgres: PostgresServer) -> AsyncIterator[AsyncEngine]:
    """The table on PostgreSQL."""
    async for engine in _engine(postgres.create_database(unique_name("arrays"))):
        yield engine


async def _stored(sessions: async_sessionmaker[AsyncSession]) -> dict[str, tuple[Any, ...]]:
    async with sessions() as session:
        rows = await session.execute(select(items).order_by(items.c.id))
        return {row.id: tuple(row)[1:] for row in rows}


async def test_insert_all_writes_every_row_in_one_statement_and_can_skip_present_keys(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = async_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await insert_all(session, items, [_row("a", 1, note="first")])
    trips = RoundTrips(monkeypatch)
    async with sessions() as session, session.begin():
        await insert_all(session, items, [_row("b", 2, data=None), _row("c", 3)])
        await insert_all(
            session,
            items,
            [_row("a", 9), _row("d", 4), _row("d", 5)],  # "a" is there, "d" given twice
            skipping_present=True,
        )
    if engine.dialect.name == "postgresql":
        # BEGIN and COMMIT, and one statement each: no executemany (one execution per row).
        assert trips.sent["executemany"] == 0 and trips.sent["statement"] == 2, trips.sent
    assert await _stored(sessions) == {
        "a": (1, AT + timedelta(minutes=1), {"n": [1]}, "first"),
        "b": (2, AT + timedelta(minutes=2), None, None),
        "c": (3, AT + timedelta(minutes=3), {"n": [3]}, None),
        "d": (4, AT + timedelta(minutes=4), {"n": [4]}, None),
    }


async def test_an_update_and_an_upsert_of_arrays_change_only_the_named_columns(
    postgres_engine: AsyncEngine,
) -> None:
    sessions = async_sessionmaker(postgres_engine)
    async with sessions() as session, session.begin():
        await insert_all(session, items, [_row("a", 1, note="a"), _row("b", 2, note="b")])
        changed = [{"id": "a", "n": 10, "data": {"n": "ten"}}, {"id": "z", "n": 26, "data": None}]
        await session.execute(
            text(unnest_update(items, "u", "id", ("n", "data"))),
            unnest_parameters(items, "u", changed, ("id", "n", "data")),
        )
        learnt = [_row("b", 20, note="new b"), _row("e", 5, note="e")]
        await session.execute(
            text(unnest_upsert(items, "v", ("id", "n", "at", "note"), ("id",), ("n", "note"))),
            unnest_parameters(items, "v", learnt, ("id", "n", "at", "note")),
        )
    assert await _stored(sessions) == {
        "a": (10, AT + timedelta(minutes=1), {"n": "ten"}, "a"),  # "z" is not there: no row
        "b": (20, AT + timedelta(minutes=2), {"n": [2]}, "new b"),  # at and data kept
        "e": (5, AT + timedelta(minutes=5), None, "e"),
    }

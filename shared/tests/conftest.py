"""Fixtures of the shared runtime's tests; their builders are in ``runtime_support``."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from runtime_support import RuntimeDatabase, runtime_database
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_devstack.postgres import PostgresServer
from helpline_devstack.testing import unique_name


@pytest_asyncio.fixture
async def sqlite_runtime(tmp_path: Path) -> AsyncIterator[RuntimeDatabase]:
    """The runtime's tables in a fresh SQLite file."""
    async for database in runtime_database(f"sqlite:///{tmp_path / 'runtime.db'}"):
        yield database


@pytest_asyncio.fixture
async def postgres_runtime(postgres: PostgresServer) -> AsyncIterator[RuntimeDatabase]:
    """The runtime's tables in a fresh PostgreSQL database (of the session's server)."""
    async for database in runtime_database(postgres.create_database(unique_name("rt"))):
        yield database


@pytest_asyncio.fixture
async def engine(sqlite_runtime: RuntimeDatabase) -> AsyncEngine:
    """The engine of ``sqlite_runtime`` (a test file may define its own)."""
    return sqlite_runtime.engine

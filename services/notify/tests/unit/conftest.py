"""Fixtures: a migrated SQLite file per test and units of work on it."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from notify_testkit import UnitOfWorkFactory
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_notify.adapters.orm import metadata
from helpline_notify.bootstrap import MIGRATIONS
from helpline_notify.service_layer.unit_of_work import NotifyUnitOfWork
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table
from helpline_shared.runtime.migrations import upgrade


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A SQLite file migrated by notify's real migrations."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'notify.db'}"
    upgrade(MIGRATIONS, url)
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The async engine on the test database."""
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def unit_of_work(engine: AsyncEngine) -> UnitOfWorkFactory:
    """A factory of notify units of work, as bootstrap makes them."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    outbox, inbox = outbox_table(metadata), inbox_table(metadata)

    def make() -> NotifyUnitOfWork:
        return NotifyUnitOfWork(
            sessions, outbox_table=outbox, inbox_table=inbox, source="/helpline/notify"
        )

    return make

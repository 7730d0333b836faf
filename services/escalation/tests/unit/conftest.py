"""Fixtures: a temp-file SQLite database migrated with escalation's real migrations."""

import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from escalation_support import unit_of_work_on
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_escalation.bootstrap import MIGRATIONS
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared.runtime.db import create_engine
from helpline_shared.runtime.migrations import upgrade

UnitOfWorkFactory = Callable[[], EscalationUnitOfWork]


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty database at the head revision, migrated once and copied by each test."""
    path = tmp_path_factory.mktemp("template") / "escalation.db"
    upgrade(MIGRATIONS, f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
async def engine(migrated_database: Path, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on this test's own copy of the migrated database."""
    path = tmp_path / "escalation.db"
    shutil.copy(migrated_database, path)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    yield engine
    await engine.dispose()


@pytest.fixture
def unit_of_work(engine: AsyncEngine) -> UnitOfWorkFactory:
    """Fresh units of work on the test database."""
    return lambda: unit_of_work_on(engine, EscalationUnitOfWork)

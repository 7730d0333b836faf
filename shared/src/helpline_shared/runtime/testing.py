"""Helpers for services' handler tests: a migrated database and what its outbox holds."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_shared.envelope import Envelope, from_record
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.uow import SqlUnitOfWork

UnitOfWorkT = TypeVar("UnitOfWorkT", bound=SqlUnitOfWork)


@asynccontextmanager
async def sqlite_units_of_work(
    database: Path, migrations: Path, metadata: MetaData, kind: type[UnitOfWorkT]
) -> AsyncIterator[tuple[Callable[[], UnitOfWorkT], AsyncEngine]]:
    """A unit-of-work factory on a fresh SQLite file migrated by the service's migrations."""
    async with units_of_work(f"sqlite+aiosqlite:///{database}", migrations, metadata,
                             kind) as made:
        yield made


@asynccontextmanager
async def units_of_work(
    url: str, migrations: Path | None, metadata: MetaData, kind: type[UnitOfWorkT]
) -> AsyncIterator[tuple[Callable[[], UnitOfWorkT], AsyncEngine]]:
    """A unit-of-work factory on the database at ``url``, migrated to head first unless
    ``migrations`` is None (the database is already at head)."""
    if migrations is not None:
        await asyncio.to_thread(upgrade, migrations, url)  # Alembic runs its own event loop
    engine = create_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    def unit_of_work() -> UnitOfWorkT:
        return kind(sessions, outbox_table=outbox_table(metadata),
                    inbox_table=inbox_table(metadata), source="/tests")

    try:
        yield unit_of_work, engine
    finally:
        await engine.dispose()


async def outbox_events(engine: AsyncEngine, metadata: MetaData) -> list[Envelope]:
    """Every event in the outbox, oldest first, decoded as consumers would."""
    table = outbox_table(metadata)
    async with engine.connect() as connection:
        rows = await connection.execute(select(table).order_by(table.c.id))
        return [
            from_record([(name, value.encode()) for name, value in row.headers],
                        row.record_value)
            for row in rows
        ]

"""A unit of work that committed ends without calling into its session to roll back (nothing
is left to roll back); one that did not commit still rolls its change back."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import Column, MetaData, String, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table
from helpline_shared.runtime.uow import SqlUnitOfWork

metadata = MetaData()
notes = Table("notes", metadata, Column("text", String(64), primary_key=True))
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


@pytest_asyncio.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'exit.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def rollbacks(monkeypatch: pytest.MonkeyPatch) -> list[AsyncSession]:
    """The sessions ``AsyncSession.rollback`` was called on."""
    called: list[AsyncSession] = []
    original = AsyncSession.rollback

    async def counted(session: AsyncSession) -> None:
        called.append(session)
        await original(session)

    monkeypatch.setattr(AsyncSession, "rollback", counted)
    return called


def unit_of_work(engine: AsyncEngine) -> SqlUnitOfWork:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    return SqlUnitOfWork(sessions, outbox_table=outbox, inbox_table=inbox, source="/test")


async def stored(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        return sorted((await connection.execute(select(notes.c.text))).scalars())


async def test_a_committed_unit_of_work_ends_without_a_rollback_call(
    engine: AsyncEngine, rollbacks: list[AsyncSession]
) -> None:
    async with unit_of_work(engine) as uow:
        await uow.session.execute(insert(notes), {"text": "kept"})
        await uow.commit()
    assert rollbacks == []
    async with unit_of_work(engine) as uow:  # the write turn was given back at the commit
        await uow.session.execute(insert(notes), {"text": "next"})
        await uow.commit()
    assert rollbacks == []
    assert await stored(engine) == ["kept", "next"]


async def test_an_uncommitted_unit_of_work_rolls_back(
    engine: AsyncEngine, rollbacks: list[AsyncSession]
) -> None:
    async with unit_of_work(engine) as uow:
        await uow.session.execute(insert(notes), {"text": "lost"})  # and no commit
    assert len(rollbacks) == 1
    async with unit_of_work(engine) as uow:
        await uow.session.execute(insert(notes), {"text": "after"})
        await uow.commit()
    assert await stored(engine) == ["after"]

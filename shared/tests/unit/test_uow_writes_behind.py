"""Repositories that keep writes until the commit: the unit of work flushes them, in order,
inside the transaction before it commits, and a rollback makes them forget."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from sqlalchemy import Column, MetaData, String, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table
from helpline_shared.runtime.uow import SqlUnitOfWork

metadata = MetaData()
notes = Table("notes", metadata, Column("text", String(64), primary_key=True))
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


class Kept:
    """Keeps notes until flushed; says when it flushes."""

    def __init__(self, session: AsyncSession, name: str, log: list[str]) -> None:
        self._session, self._name, self._log = session, name, log
        self.kept: list[str] = []

    async def flush(self) -> None:
        kept, self.kept = self.kept, []
        self._log.append(f"flush {self._name}: {len(kept)}")
        if kept:
            await self._session.execute(insert(notes), [{"text": text} for text in kept])

    def discard(self) -> None:
        self._log.append(f"discard {self._name}")
        self.kept = []


@pytest_asyncio.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'behind.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


def unit_of_work(engine: AsyncEngine) -> SqlUnitOfWork:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    return SqlUnitOfWork(sessions, outbox_table=outbox, inbox_table=inbox, source="/test")


async def stored(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        return sorted((await connection.execute(select(notes.c.text))).scalars())


async def test_the_commit_writes_what_repositories_kept_in_their_order(
    engine: AsyncEngine,
) -> None:
    log: list[str] = []
    async with unit_of_work(engine) as uow:
        first, second = Kept(uow.session, "first", log), Kept(uow.session, "second", log)
        uow.writes_behind(first, second)
        first.kept, second.kept = ["a", "b"], ["c"]
        await uow.commit()
        assert log == ["flush first: 2", "flush second: 1"]
    assert await stored(engine) == ["a", "b", "c"]


async def test_a_rollback_forgets_what_was_kept_and_a_later_commit_writes_nothing_of_it(
    engine: AsyncEngine,
) -> None:
    log: list[str] = []
    async with unit_of_work(engine) as uow:
        kept = Kept(uow.session, "kept", log)
        uow.writes_behind(kept)
        kept.kept = ["lost"]
        await uow.rollback()
        await uow.commit()
        assert log == ["discard kept", "flush kept: 0"]
    assert await stored(engine) == []


async def test_a_new_transaction_starts_with_no_repository_kept_from_the_last() -> None:
    uow = unit_of_work(create_engine("sqlite://"))
    log: list[str] = []
    async with uow:
        uow.writes_behind(Kept(uow.session, "old", log))
        await uow.commit()
    async with uow:
        seen = len(log)
        await uow.commit()
        assert log[seen:] == [], "the last transaction's repository is not flushed again"

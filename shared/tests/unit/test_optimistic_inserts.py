"""Rows inserted without looking for them first: one mechanism in the unit of work, its marks
kept per database, and ``apply_alone`` replaying the way the consumer does."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from runtime_support import RuntimeDatabase, created, runtime_database
from sqlalchemy import Column, MetaData, String, Table, insert, select
from sqlalchemy.exc import IntegrityError

from helpline_shared.envelope import Envelope, from_record, to_record
from helpline_shared.events import TicketCreated
from helpline_shared.runtime.consumer import HandlerTable, apply_alone
from helpline_shared.runtime.uow import RowWrittenBefore, SqlUnitOfWork

things = Table("things", MetaData(), Column("id", String(64), primary_key=True))


async def with_things(database: RuntimeDatabase) -> RuntimeDatabase:
    async with database.engine.begin() as connection:
        await connection.run_sync(things.metadata.create_all)
    return database


async def write(uow: SqlUnitOfWork, thing_id: str) -> bool:
    """Add ``thing_id`` as a repository inserting optimistically does; False if it existed."""
    optimistic = uow.optimistic_inserts()
    if optimistic.without_looking(thing_id):
        await optimistic.execute(uow.session, insert(things), [{"id": thing_id}])
        return True
    found = await uow.session.scalar(select(things.c.id).where(things.c.id == thing_id))
    if found is None:
        await uow.session.execute(insert(things), [{"id": thing_id}])
    return found is None


@pytest.fixture
async def second_database(tmp_path: Path) -> AsyncIterator[RuntimeDatabase]:
    async for database in runtime_database(f"sqlite:///{tmp_path / 'other.db'}"):
        yield database


async def test_a_row_met_is_looked_for_next_time_in_that_database_only(
    sqlite_runtime: RuntimeDatabase, second_database: RuntimeDatabase
) -> None:
    first, second = await with_things(sqlite_runtime), await with_things(second_database)
    async with first.unit_of_work() as uow:
        assert await write(uow, "a")
        await uow.commit()

    async with first.unit_of_work() as uow:
        with pytest.raises(RowWrittenBefore) as raised:
            await write(uow, "a")  # inserted without a look: the database refuses it
    assert isinstance(raised.value, IntegrityError)  # what callers caught before still catches

    async with second.unit_of_work() as uow:
        assert await write(uow, "a")  # another database: no mark, no look
        await uow.commit()
    async with first.unit_of_work() as uow:
        assert not await write(uow, "a")  # looked for this time: found, left alone
        await uow.commit()
    async with first.unit_of_work() as uow:
        assert uow.optimistic_inserts().without_looking("a")  # the mark was used once


async def test_every_key_of_a_failed_transaction_is_looked_for_on_the_replay(
    sqlite_runtime: RuntimeDatabase,
) -> None:
    database = await with_things(sqlite_runtime)
    async with database.unit_of_work() as uow:
        await write(uow, "old")
        await uow.commit()
    async with database.unit_of_work() as uow:
        optimistic = uow.optimistic_inserts()
        assert optimistic.without_looking("new") and optimistic.without_looking("old")
        with pytest.raises(RowWrittenBefore):
            await optimistic.execute(uow.session, insert(things), [{"id": "new"}, {"id": "old"}])
    async with database.unit_of_work() as uow:
        optimistic = uow.optimistic_inserts()
        assert not optimistic.without_looking("new")
        assert not optimistic.without_looking("old")


async def test_apply_alone_replays_an_event_that_met_a_row_as_the_consumer_does(
    sqlite_runtime: RuntimeDatabase,
) -> None:
    database = await with_things(sqlite_runtime)
    outcomes: list[bool] = []

    async def apply(uow: SqlUnitOfWork, envelope: Envelope) -> None:
        ticket_id = envelope.event.ticket_id  # type: ignore[attr-defined]
        outcomes.append(await write(uow, ticket_id))

    table = HandlerTable("test", {TicketCreated: apply})
    async with database.unit_of_work() as uow:
        await write(uow, "t1")  # routed before, under another event id
        await uow.commit()

    record = to_record(created("t1"), source="/t")
    assert await apply_alone(
        table, database.unit_of_work(), from_record(record.headers, record.value)
    )
    assert outcomes == [False]  # one call: the optimistic try was refused and rolled back
    async with database.engine.connect() as connection:
        assert (await connection.scalars(select(things.c.id))).all() == ["t1"]

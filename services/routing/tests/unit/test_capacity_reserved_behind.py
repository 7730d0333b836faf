"""A consumed decision's unit of capacity is taken at the flush, every unit of the batch in one
statement, each still guarded by the database; a unit refused there (another replica took it)
fails the batch, whose events applied again one per transaction reserve at once."""

from routing_support import Database, assigned, created, register
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from test_status_written_unread import consume_events, status

from helpline_routing.adapters.orm import agent_capacity
from helpline_shared.runtime.testing import StatementLog


async def active(engine: AsyncEngine) -> dict[str, int]:
    """Each agent's units taken on the api channel."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(agent_capacity.c.agent_id, agent_capacity.c.active).where(
                agent_capacity.c.channel == "api"
            )
        )
        return {row.agent_id: row.active for row in rows}


async def test_a_batch_takes_its_units_in_one_statement_and_no_more_than_the_capacity(
    database: Database,
) -> None:
    uow, engine = database
    agent_id = await register(uow, capacity=3)
    log = StatementLog(engine)
    await consume_events(uow, [created(f"t{n}").event for n in range(4)])
    # Was one per decision (PostgreSQL's statement is a WITH: counted by what it updates).
    assert sum("UPDATE agent_capacity" in statement for statement in log.statements) == 1
    assert {ticket for ticket, _agent in await assigned(engine)} == {"t0", "t1", "t2"}
    assert await active(engine) == {agent_id: 3}


async def test_a_unit_another_replica_took_is_reserved_at_once_when_the_batch_is_replayed(
    database: Database,
) -> None:
    uow, engine = database
    ada = await register(uow, "Ada", capacity=1)
    bob = await register(uow, "Bob", capacity=1)
    await consume_events(uow, [created("warm").event])  # this process's pool is cached
    (first,) = {agent for _ticket, agent in await assigned(engine)}
    other = bob if first == ada else ada
    # Another replica takes the other agent's last unit after this pool was checked.
    async with engine.begin() as connection:
        await connection.execute(
            update(agent_capacity).where(agent_capacity.c.agent_id == other).values(active=1)
        )
    await consume_events(uow, [created("t1").event, created("t2").event])
    assert await active(engine) == {ada: 1, bob: 1}  # never past the capacity
    assert {ticket for ticket, _agent in await assigned(engine)} == {"warm"}


async def test_a_unit_released_in_the_batch_that_reserved_it_is_given_back(
    database: Database,
) -> None:
    uow, engine = database
    agent_id = await register(uow, capacity=2)
    await consume_events(uow, [created("t0").event, status("t0", "new", "solved")])
    assert await active(engine) == {agent_id: 0}

"""Routing's round trips on PostgreSQL: its statements have one text whatever the batch size
(each new text is a new prepared statement for asyncpg: one more round trip and a plan on every
connection), and a batch's units of capacity and last assignments are one statement."""

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))

from routing_support import Database, assigned, consume, created, register
from test_capacity_reserved_behind import (
    test_a_batch_takes_its_units_in_one_statement_and_no_more_than_the_capacity,
    test_a_unit_another_replica_took_is_reserved_at_once_when_the_batch_is_replayed,
    test_a_unit_released_in_the_batch_that_reserved_it_is_given_back,
)
from test_status_written_unread import consume_events, status

from helpline_devstack.postgres import PostgresServer
from helpline_devstack.testing import unique_name
from helpline_routing.adapters.orm import metadata
from helpline_routing.bootstrap import MIGRATIONS
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared.runtime.testing import StatementLog, consumer_record, units_of_work

__all__ = [
    "test_a_batch_takes_its_units_in_one_statement_and_no_more_than_the_capacity",
    "test_a_unit_another_replica_took_is_reserved_at_once_when_the_batch_is_replayed",
    "test_a_unit_released_in_the_batch_that_reserved_it_is_given_back",
]


@pytest.fixture
async def database(postgres: PostgresServer) -> AsyncIterator[Database]:
    url = postgres.create_database(unique_name("routing"))
    async with units_of_work(url, MIGRATIONS, metadata, RoutingUnitOfWork) as made:
        yield made


async def test_a_bigger_batch_runs_no_statement_text_a_batch_of_one_did_not(
    database: Database,
) -> None:
    uow, engine = database
    await register(uow, capacity=100)
    await consume_events(uow, [created("warm").event])  # the pool is built once, here
    log = StatementLog(engine)
    texts: dict[int, set[str]] = {}
    for size in (1, 3, 7):
        log.clear()
        ids = [f"t{size}-{n}" for n in range(size)]
        await consume_events(uow, [created(ticket_id).event for ticket_id in ids])
        await consume_events(uow, [status(ticket_id, "new", "open") for ticket_id in ids])
        texts[size] = set(log.statements)
    # Was one UPDATE routed_tickets text per number of tickets (WHERE ticket_id IN ($3, $4, ...)).
    assert texts[3] - texts[1] == set()
    assert texts[7] - texts[1] == set()
    assert sum(s.startswith("UPDATE routed_tickets") for s in texts[7]) == 1


async def test_a_batch_of_decisions_takes_its_units_and_stamps_its_agents_in_one_statement(
    database: Database,
) -> None:
    uow, engine = database
    await register(uow, "Ada", capacity=100)
    await register(uow, "Bob", capacity=100)
    await consume_events(uow, [created("warm").event])
    log = StatementLog(engine)
    await consume_events(uow, [created(f"t{n}").event for n in range(6)])
    # Was one guarded UPDATE agent_capacity per decision, then one UPDATE agents for the batch.
    assert sum("UPDATE agent_capacity" in statement for statement in log.statements) == 1
    assert log.count("UPDATE agents") == 0
    # BEGIN is not seen here: pool version, tickets, history, pool bump, capacity, inbox+outbox.
    assert len(log.statements) <= 7


async def test_new_tickets_and_their_history_are_one_statement_and_a_ticket_met_again_is_left(
    database: Database,
) -> None:
    uow, engine = database
    agent_id = await register(uow, capacity=100)
    await consume_events(uow, [created("warm").event])
    log = StatementLog(engine)
    await consume_events(uow, [created(f"t{n}").event for n in range(3)])
    writes = [s for s in log.statements if "routed_tickets" in s or "routing_history" in s]
    # Was an INSERT INTO routed_tickets, then an INSERT INTO routing_history.
    assert len(writes) == 1
    assert "INSERT INTO routed_tickets" in writes[0] and "INSERT INTO routing_history" in writes[0]
    # t0 again under a new event id: the statement meets its row, the batch is replayed one
    # event per transaction, t0 looked for first and left alone.
    records = [
        consumer_record(created(t).event, offset=n, event_id=f"again-{n}")
        for n, t in enumerate(("t0", "t9"))
    ]
    assert (await consume(uow, records)).sent == []
    assert sorted(await assigned(engine)) == sorted(
        (ticket, agent_id) for ticket in ("warm", "t0", "t1", "t2", "t9")
    )
    async with uow() as unit:
        steps = await unit.history.of_ticket("acme", "t0")
    assert [step.kind for step in steps] == ["classified", "assigned"]

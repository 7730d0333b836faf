"""Routing's statements per event: tickets, history steps and agents' last assignment are
written behind, once per batch, and read back from memory within the transaction."""

from routing_support import Database, assigned, consume, created, register
from sqlalchemy import select

from helpline_routing.adapters.orm import agent_capacity, agents, routed_tickets
from helpline_routing.service_layer import handlers
from helpline_shared.events import Event, TicketStatusChanged
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import (
    StatementLog,
    consumer_record,
)


def opened(ticket_id: str) -> TicketStatusChanged:
    return TicketStatusChanged(
        tenant_id="acme",
        ticket_id=ticket_id,
        occurred_at=utcnow(),
        previous_status="new",
        status="open",
    )


def records_of(events: list[Event]) -> list[object]:
    return [consumer_record(event, offset=n) for n, event in enumerate(events)]


async def test_a_batch_writes_its_tickets_history_and_assignments_in_one_statement_each(
    database: Database,
) -> None:
    uow, engine = database
    agent_id = await register(uow, capacity=20)
    ids = [f"t{n}" for n in range(10)]
    events: list[Event] = [created(ticket_id).event for ticket_id in ids]
    events += [opened(ticket_id) for ticket_id in ids[:3]]
    log = StatementLog(engine)

    assert (await consume(uow, records_of(events))).sent == []

    # The status changes of t0..t2 change tickets this batch adds: still one INSERT.
    assert log.count("INSERT INTO routed_tickets") == 1
    assert log.count("UPDATE routed_tickets") == 0
    assert log.count("INSERT INTO routing_history") == 1
    assert log.count("UPDATE agents") == 1
    # A ticket's facts are never read back to save it, and a ticket this transaction wrote is
    # not selected again (the status changes of t0..t2 read them from memory); a new ticket is
    # not looked for first either (the INSERT checks it: test_cpu_per_ticket.py).
    assert log.count("SELECT routed_tickets.data") == 0
    assert log.count("SELECT routed_tickets.") == 0
    # Capacity is reserved behind: every unit, each guarded, in one statement (was one per
    # decision).
    assert log.count("UPDATE agent_capacity") == 1
    # Everything else is per batch: begin, inbox, pool version, rules, settings, outbox, commit.
    assert len(log.statements) <= 10 + 1 + 4 + 9
    assert sorted(await assigned(engine)) == sorted((ticket_id, agent_id) for ticket_id in ids)
    async with engine.connect() as connection:
        rows = {
            row.ticket_id: row
            for row in await connection.execute(select(routed_tickets).order_by("ticket_id"))
        }
        last_assigned = (await connection.execute(select(agents.c.last_assigned_at))).scalar_one()
        active = (
            await connection.execute(
                select(agent_capacity.c.active).where(agent_capacity.c.channel == "api")
            )
        ).scalar_one()
    assert {ticket_id: row.data["status"] for ticket_id, row in rows.items()} == {
        ticket_id: "open" if ticket_id in ids[:3] else "new" for ticket_id in ids
    }
    assert {row.state for row in rows.values()} == {"assigned"}
    assert all(row.data["facts"]["tags"] == ["exports"] for row in rows.values())
    assert last_assigned is not None
    assert active == 10

    log.clear()
    later: list[Event] = [opened(ticket_id) for ticket_id in ids[3:6]]
    assert (await consume(uow, records_of(later))).sent == []
    # new -> open moves no capacity: the status is written unread, one UPDATE for the batch
    # (was a locking SELECT per ticket, then the UPDATE).
    assert log.count("SELECT routed_tickets.") == 0
    assert log.count("UPDATE routed_tickets") == 1
    assert log.count("SELECT routed_tickets.data") == 0
    async with engine.connect() as connection:
        statuses = {
            row.ticket_id: row.data["status"]
            for row in await connection.execute(select(routed_tickets))
        }
    assert statuses == {ticket_id: "new" if ticket_id in ids[6:] else "open" for ticket_id in ids}


async def test_history_written_behind_keeps_its_order_and_is_read_in_the_same_transaction(
    database: Database,
) -> None:
    uow, _engine = database
    await register(uow, capacity=5)
    async with uow() as unit:
        with unit.lent_to_handler():
            await handlers.handler_table().get("helpline.ticket.created.v1")(  # type: ignore[misc]
                unit, created("t1")
            )
        steps = await unit.history.of_ticket("acme", "t1")
        ticket = await unit.tickets.get("t1")
        await unit.commit()
    assert [step.kind for step in steps] == ["classified", "assigned"]
    assert ticket is not None and ticket.state == "assigned"
    async with uow() as unit:
        assert [s.kind for s in await unit.history.of_ticket("acme", "t1")] == [
            "classified",
            "assigned",
        ]


async def test_a_ticket_created_twice_in_one_batch_is_routed_once(database: Database) -> None:
    uow, engine = database
    agent_id = await register(uow, capacity=5)
    event = created("t1").event  # the same ticket under two event ids
    records = [consumer_record(event, offset=n, event_id=f"e{n}") for n in range(2)]
    assert (await consume(uow, records)).sent == []
    assert await assigned(engine) == [("t1", agent_id)]
    async with engine.connect() as connection:
        active = (
            await connection.execute(
                select(agent_capacity.c.active).where(agent_capacity.c.channel == "api")
            )
        ).scalar_one()
    assert active == 1


async def test_nothing_kept_behind_is_written_when_the_transaction_rolls_back(
    database: Database,
) -> None:
    uow, engine = database
    await register(uow, capacity=5)
    async with uow() as unit:
        with unit.lent_to_handler():
            await handlers.handler_table().get("helpline.ticket.created.v1")(  # type: ignore[misc]
                unit, created("t1")
            )
        await unit.rollback()
    async with engine.connect() as connection:
        assert (await connection.execute(select(routed_tickets))).all() == []
        assert (await connection.execute(select(agents.c.last_assigned_at))).scalar_one() is None

"""A status change that moves no capacity is written without reading its ticket; when the row
says otherwise, the batch is applied again one event at a time, reading the ticket first."""

from routing_support import Database, Factory, consume, created, register
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_routing.adapters.orm import agent_capacity, routed_tickets
from helpline_routing.service_layer import admin
from helpline_shared.events import Event, TicketStatus, TicketStatusChanged
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import (
    StatementLog,
    consumer_record,
)


def status(ticket_id: str, previous: TicketStatus, now: TicketStatus) -> TicketStatusChanged:
    return TicketStatusChanged(
        tenant_id="acme",
        ticket_id=ticket_id,
        occurred_at=utcnow(),
        previous_status=previous,
        status=now,
    )


async def consume_events(uow: Factory, events: list[Event]) -> None:
    producer = await consume(
        uow, [consumer_record(event, offset=n) for n, event in enumerate(events)]
    )
    assert producer.sent == [], "nothing may be dead-lettered"


async def rows(engine: AsyncEngine) -> dict[str, tuple[str, str, bool]]:
    """Each ticket's (state, status, counts_load)."""
    async with engine.connect() as connection:
        return {
            row.ticket_id: (row.state, row.data["status"], row.data["counts_load"])
            for row in await connection.execute(select(routed_tickets))
        }


async def active(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(
            (
                await connection.execute(
                    select(agent_capacity.c.active).where(agent_capacity.c.channel == "api")
                )
            ).scalar_one()
        )


async def test_new_to_open_is_one_update_for_the_batch(database: Database) -> None:
    uow, engine = database
    await register(uow, capacity=10)
    await consume_events(uow, [created(f"t{n}").event for n in range(3)])
    log = StatementLog(engine)
    await consume_events(uow, [status(f"t{n}", "new", "open") for n in range(3)])
    assert log.count("SELECT routed_tickets.") == 0
    assert log.count("UPDATE routed_tickets") == 1
    assert await rows(engine) == {f"t{n}": ("assigned", "open", True) for n in range(3)}
    assert await active(engine) == 3


async def test_a_row_that_disagrees_is_read_and_its_capacity_released(database: Database) -> None:
    uow, engine = database
    await register(uow, capacity=10)
    await consume_events(uow, [created(f"t{n}").event for n in range(3)])
    # Assigned while new counted; now neither new nor open counts: t1's new -> open releases.
    await admin.save_settings("acme", {"load_statuses": ["on_hold"]}, uow())
    await consume_events(
        uow, [status("t0", "new", "pending"), status("t1", "new", "open"), created("t3").event]
    )
    got = await rows(engine)
    assert got["t1"] == ("assigned", "open", False)
    assert got["t0"] == ("assigned", "pending", False)
    assert got["t2"] == ("assigned", "new", True)
    assert got["t3"][0] == "assigned"
    assert await active(engine) == 2  # t2 and t3


async def test_a_status_of_a_ticket_never_routed_changes_nothing(database: Database) -> None:
    uow, engine = database
    await register(uow, capacity=10)
    await consume_events(uow, [status("nobody", "new", "open"), created("t0").event])
    assert await rows(engine) == {"t0": ("assigned", "new", True)}


async def test_a_second_status_in_the_batch_sees_the_first(database: Database) -> None:
    uow, engine = database
    await register(uow, capacity=10)
    await consume_events(uow, [created("t0").event])
    await consume_events(uow, [status("t0", "new", "open"), status("t0", "open", "solved")])
    assert await rows(engine) == {"t0": ("closed", "solved", False)}
    assert await active(engine) == 0

"""Routing's handlers on a real (SQLite) database: assign, queue, drain, release, dedupe."""

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_routing.adapters.orm import metadata
from helpline_routing.bootstrap import MIGRATIONS
from helpline_routing.service_layer import handlers
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared.envelope import Envelope, from_record, to_record
from helpline_shared.events import Event, Requester, TicketCreated, TicketStatusChanged
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import outbox_events, sqlite_units_of_work

Factory = Callable[[], RoutingUnitOfWork]


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[tuple[Factory, AsyncEngine]]:
    async with sqlite_units_of_work(tmp_path / "routing.db", MIGRATIONS, metadata,
                                    RoutingUnitOfWork) as made:
        yield made


def envelope(event: Event) -> Envelope:
    record = to_record(event, source="/tests")
    return from_record(record.headers, record.value)


def created(ticket_id: str, tags: tuple[str, ...] = ("exports",)) -> Envelope:
    return envelope(TicketCreated(
        tenant_id="acme", ticket_id=ticket_id, occurred_at=utcnow(), subject="s",
        description="d", requester=Requester(email="cy@example.org"), priority="normal",
        type="question", tags=tags, channel="api"))


def solved(ticket_id: str) -> Envelope:
    return envelope(TicketStatusChanged(tenant_id="acme", ticket_id=ticket_id,
                                        occurred_at=utcnow(), previous_status="open",
                                        status="solved"))


async def register(uow: Factory, capacity: int = 1, presence: str = "available") -> str:
    agent = await handlers.register_agent(handlers.RegisterAgent(
        tenant_id="acme", name="Ada", email="ada@acme.test", skills={"exports": 5},
        capacity={"api": capacity}, presence=presence), uow())  # type: ignore[arg-type]
    return agent.id


async def assigned(engine: AsyncEngine) -> list[tuple[str, str]]:
    return [(e.event.ticket_id, e.event.agent_id) for e in await outbox_events(engine, metadata)
            if e.type == "helpline.ticket.assigned.v1"]  # type: ignore[attr-defined]


async def test_a_new_ticket_goes_to_an_eligible_agent(database: tuple[Factory, AsyncEngine]
                                                      ) -> None:
    uow, engine = database
    agent_id = await register(uow)
    await handlers.on_ticket_event(created("t1"), uow())
    assert await assigned(engine) == [("t1", agent_id)]


async def test_capacity_is_never_exceeded_and_the_rest_waits(
        database: tuple[Factory, AsyncEngine]) -> None:
    uow, engine = database
    agent_id = await register(uow, capacity=1)
    await handlers.on_ticket_event(created("t1"), uow())
    await handlers.on_ticket_event(created("t2"), uow())
    assert await assigned(engine) == [("t1", agent_id)]
    async with uow() as unit:
        waiting = await unit.assignments.waiting("acme")
        agent = await unit.agents.get("acme", agent_id)
    assert [w.ticket_id for w in waiting] == ["t2"]
    assert "no capacity left on api" in waiting[0].reason
    assert agent is not None and agent.active == {"api": 1}


async def test_solving_frees_capacity_and_the_next_ticket_is_assigned_at_once(
        database: tuple[Factory, AsyncEngine]) -> None:
    uow, engine = database
    agent_id = await register(uow, capacity=1)
    await handlers.on_ticket_event(created("t1"), uow())
    await handlers.on_ticket_event(created("t2"), uow())
    await handlers.on_ticket_event(solved("t1"), uow())
    assert await assigned(engine) == [("t1", agent_id), ("t2", agent_id)]


async def test_an_agent_becoming_available_takes_waiting_work(
        database: tuple[Factory, AsyncEngine]) -> None:
    uow, engine = database
    agent_id = await register(uow, presence="offline")
    await handlers.on_ticket_event(created("t1"), uow())
    assert await assigned(engine) == []
    await handlers.change_presence(handlers.ChangePresence("acme", agent_id, "available"), uow())
    assert await assigned(engine) == [("t1", agent_id)]


async def test_the_same_event_twice_assigns_once(database: tuple[Factory, AsyncEngine]) -> None:
    uow, engine = database
    agent_id = await register(uow, capacity=5)
    event = created("t1")
    await handlers.on_ticket_event(event, uow())
    await handlers.on_ticket_event(event, uow())
    assert await assigned(engine) == [("t1", agent_id)]
    async with uow() as unit:
        agent = await unit.agents.get("acme", agent_id)
    assert agent is not None and agent.active == {"api": 1}

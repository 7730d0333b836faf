"""Builders shared by routing's unit tests: agents, requests, tickets, events, timers."""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import NoOpTracer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_routing.adapters.orm import metadata, timers
from helpline_routing.domain.model import Agent, RoutingRequest
from helpline_routing.domain.rules import OptionalSkill
from helpline_routing.domain.tickets import RoutedTicket
from helpline_routing.service_layer import agents as agent_handlers
from helpline_routing.service_layer import handlers
from helpline_routing.service_layer.offers import fire_timer
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared.envelope import Envelope, from_record, to_record
from helpline_shared.events import Event, Requester, TicketCreated
from helpline_shared.runtime.consumer import DeadLetters, TableConsumer
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import FakeKafkaConsumer, RecordingProducer, outbox_events
from helpline_shared.runtime.timers import Timer

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def agent(agent_id: str, **overrides: Any) -> Agent:
    """An available agent with skill exports at 5 and room on both channels, unless overridden."""
    values: dict[str, Any] = {
        "id": agent_id,
        "tenant_id": "acme",
        "name": agent_id,
        "email": f"{agent_id}@x.test",
        "skills": {"exports": 5},
        "presence": "available",
        "capacity": {"api": 2, "email": 2},
        "active": {},
        "created_at": T0,
        "last_assigned_at": None,
    }
    values.update(overrides)
    return Agent(**values)


def request(
    skills: dict[str, int] | None = None, channel: str = "api", **extra: Any
) -> RoutingRequest:
    """A request for ``skills`` (exports at 1 by default) on ``channel``."""
    return RoutingRequest(
        required_skills={"exports": 1} if skills is None else skills, channel=channel, **extra
    )


def ticket(optional: dict[str, tuple[int, int]] | None = None, **overrides: Any) -> RoutedTicket:
    """A waiting ticket needing exports, with optional skills as {skill: (level, priority)}."""
    values: dict[str, Any] = {
        "ticket_id": "t1",
        "tenant_id": "acme",
        "channel": "api",
        "priority": "normal",
        "status": "new",
        "rule_id": "r1",
        "rule_version": 1,
        "required_skills": {"exports": 1},
        "optional_skills": {
            skill: OptionalSkill(level, priority)
            for skill, (level, priority) in (optional or {}).items()
        },
        "team": None,
        "queued_at": T0,
    }
    values.update(overrides)
    return RoutedTicket(**values)


# Handler tests: a migrated SQLite database, events in, the outbox out, timers fired on demand.


Factory = Callable[[], RoutingUnitOfWork]
Replicas = tuple[Factory, Factory, AsyncEngine]
Database = tuple[Factory, AsyncEngine]
"""Two routing processes on one database (the ``replicas`` fixture), and that database."""


def envelope(event: Event) -> Envelope:
    """``event`` as a consumer receives it."""
    record = to_record(event, source="/tests")
    return from_record(record.headers, record.value)


def created(ticket_id: str, tags: tuple[str, ...] = ("exports",), **extra: Any) -> Envelope:
    """A new ticket of tenant acme on the api channel."""
    values: dict[str, Any] = {
        "tenant_id": "acme",
        "ticket_id": ticket_id,
        "occurred_at": utcnow(),
        "subject": "s",
        "description": "d",
        "requester": Requester(email="cy@example.org"),
        "priority": "normal",
        "type": "question",
        "tags": tags,
        "channel": "api",
    }
    values.update(extra)
    return envelope(TicketCreated(**values))


async def register(
    uow: Factory,
    name: str = "Ada",
    capacity: int = 1,
    presence: str = "available",
    skills: dict[str, int] | None = None,
    **extra: Any,
) -> str:
    """Register an agent of tenant acme; return its id."""
    registered = await agent_handlers.register_agent(
        agent_handlers.RegisterAgent(
            tenant_id="acme",
            name=name,
            email=f"{name.lower()}@acme.test",
            skills=skills or {"exports": 5},
            capacity={"api": capacity, "email": capacity},
            presence=presence,
            **extra,
        ),
        uow(),
    )  # type: ignore[arg-type]
    return registered.id


async def events_of(engine: AsyncEngine, event_type: str) -> list[Any]:
    """The events of ``event_type`` in the outbox, oldest first."""
    return [
        e.event
        for e in await outbox_events(engine, metadata)
        if e.type == f"helpline.ticket.{event_type}.v1"
    ]


async def assigned(engine: AsyncEngine) -> list[tuple[str, str]]:
    """(ticket, agent) of every TicketAssigned in the outbox."""
    return [(e.ticket_id, e.agent_id) for e in await events_of(engine, "assigned")]


async def fire_timers(uow: Factory, kind: str, limit: int = 1000) -> int:
    """Fire pending timers of ``kind`` now (earliest first), whatever their due time."""
    async with uow() as unit:
        rows = (
            await unit.session.execute(
                select(timers)
                .where(timers.c.kind == kind, timers.c.fired_at.is_(None))
                .order_by(timers.c.due_at)
                .limit(limit)
            )
        ).all()
    for row in rows:
        async with uow() as unit:
            await fire_timer(unit, Timer(row.id, row.kind, row.due_at, row.payload, {}))
            await unit.session.execute(
                update(timers).where(timers.c.id == row.id).values(fired_at=utcnow())
            )
            await unit.commit()
    return len(rows)


async def _no_wait(_seconds: float) -> None:
    pass


def table_consumer(uow: Factory, producer: RecordingProducer) -> TableConsumer[RoutingUnitOfWork]:
    """Routing's handler table consumed as the service does, its retries not waited for."""
    return TableConsumer(
        table=handlers.handler_table(),
        unit_of_work=uow,
        dead_letters=DeadLetters(producer, "helpline-routing"),
        tracer=NoOpTracer(),
        group="helpline-routing",
        sleep=_no_wait,
    )


async def consume(uow: Factory, records: Sequence[Any]) -> RecordingProducer:
    """Consume ``records`` as one batch; the producer holds what was dead-lettered."""
    producer = RecordingProducer()
    await table_consumer(uow, producer).consume(records, FakeKafkaConsumer())
    return producer

"""Random event sequences over a few tickets and agents through routing's real handlers.

Tickets are created, change status (pending, on hold, solved, reopened), priority and tags, get
escalated, reassigned by hand, offered and answered; agents change presence; timers fire; the
queue drains; earlier events are redelivered. After every step: no agent holds more than its
capacity, each agent's load is exactly the tickets it holds, no step assigns a ticket twice, and a
redelivered event changes nothing. At the end: unique ids, events valid per the schemas.
"""

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from event_checks import (
    fresh_database,
    migrated_template,
    outbox,
    outbox_size,
    schema_errors,
)
from fuzzing import fuzz_settings
from hypothesis import given
from hypothesis import strategies as st
from routing_support import envelope, fire_timers, register
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_routing.adapters.orm import agent_capacity, metadata, offers
from helpline_routing.bootstrap import MIGRATIONS
from helpline_routing.domain.errors import RoutingError
from helpline_routing.service_layer import admin, handlers
from helpline_routing.service_layer import agents as agent_handlers
from helpline_routing.service_layer import offers as offer_handlers
from helpline_routing.service_layer.decisions import (
    AGENT_IDLE,
    HAND_BACK,
    OFFER_EXPIRY,
    RELAXATION,
)
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared.envelope import Envelope, new_event_id
from helpline_shared.events import (
    Channel,
    Event,
    MessageAdded,
    Priority,
    Requester,
    SlaEscalated,
    TicketCreated,
    TicketStatus,
    TicketStatusChanged,
    TicketUpdated,
)

TENANT = "acme"
T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
TICKETS = ("t1", "t2", "t3", "t4")
AGENTS = ("Ada", "Bob", "Cy")
STATUSES: tuple[TicketStatus, ...] = ("new", "open", "pending", "on_hold", "solved", "closed")
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "urgent")
Presence = Literal["available", "away", "busy", "offline"]
ticket_index = st.integers(0, len(TICKETS) - 1)
agent_index = st.integers(0, len(AGENTS) - 1)
Factory = Callable[[], RoutingUnitOfWork]


@dataclass(frozen=True)
class Create:
    """A ``TicketCreated`` for the ticket (again, if it exists: a duplicate from upstream)."""

    ticket: int
    channel: Channel
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Status:
    """The ticket moves to ``status``."""

    ticket: int
    status: TicketStatus


@dataclass(frozen=True)
class Update:
    """The ticket's priority and tags change."""

    ticket: int
    priority: Priority
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Escalate:
    """An SLA escalation raises the priority and widens to a team."""

    ticket: int
    raise_to: Priority | None
    team: str | None


@dataclass(frozen=True)
class Reassign:
    """An admin assigns the ticket to an agent, within capacity."""

    ticket: int
    agent: int


@dataclass(frozen=True)
class Answer:
    """The open offer of the ticket, if any, is accepted or declined."""

    ticket: int
    accept: bool


@dataclass(frozen=True)
class Presence_:
    """An agent's presence changes."""

    agent: int
    presence: Presence


@dataclass(frozen=True)
class AgentReply:
    """An agent writes on the ticket (activity)."""

    ticket: int
    agent: int


@dataclass(frozen=True)
class Fire:
    """Every pending timer of ``kind`` fires (as if its time had come)."""

    kind: str


@dataclass(frozen=True)
class Drain:
    """The periodic queue sweep runs."""


@dataclass(frozen=True)
class Redeliver:
    """An earlier event (``index`` modulo how many) arrives again, with its id."""

    index: int


Step = (
    Create
    | Status
    | Update
    | Escalate
    | Reassign
    | Answer
    | Presence_
    | AgentReply
    | Fire
    | Drain
    | Redeliver
)
tags = st.sampled_from((("exports",), ("billing",), ()))
creations = st.builds(Create, ticket_index, st.sampled_from(("api", "email")), tags)
steps = st.lists(
    st.one_of(
        creations,
        st.builds(Status, ticket_index, st.sampled_from(STATUSES)),
        st.builds(Update, ticket_index, st.sampled_from(PRIORITIES), tags),
        st.builds(
            Escalate,
            ticket_index,
            st.sampled_from((None, "urgent")),
            st.sampled_from((None, "tier2")),
        ),
        st.builds(Reassign, ticket_index, agent_index),
        st.builds(Answer, ticket_index, st.booleans()),
        st.builds(
            Presence_, agent_index, st.sampled_from(("available", "away", "busy", "offline"))
        ),
        st.builds(AgentReply, ticket_index, agent_index),
        st.builds(Fire, st.sampled_from((OFFER_EXPIRY, HAND_BACK, RELAXATION, AGENT_IDLE))),
        st.just(Drain()),
        st.builds(Redeliver, st.integers(0, 1000)),
    ),
    min_size=5,
    max_size=40,
)


class Run:
    """A few tickets and agents of one tenant through routing, checked after every step."""

    def __init__(self, unit_of_work: Factory, engine: AsyncEngine, agent_ids: list[str]) -> None:
        self.unit_of_work = unit_of_work
        self.engine = engine
        self.agents = agent_ids
        self.now = T0
        self.status: dict[str, TicketStatus] = {}
        self.delivered: list[Envelope] = []

    async def deliver(self, event: Event) -> None:
        """A new event (a ticket created again under a new event id meets the one routed before
        at commit, and is replayed as the consumer replays it: ``apply_alone``)."""
        self.delivered.append(envelope(event))
        await handlers.on_ticket_event(self.delivered[-1], self.unit_of_work())

    async def apply(self, step: Step) -> None:
        """Do ``step``; then check capacity, load and that nothing was assigned twice."""
        self.now += timedelta(minutes=1)
        before = await outbox_size(self.engine, metadata)
        if isinstance(step, Redeliver):
            state = await self.state()
            if self.delivered:
                await handlers.on_ticket_event(
                    self.delivered[step.index % len(self.delivered)], self.unit_of_work()
                )
            assert await self.state() == state, "a redelivered event changed routing"
        else:
            # Refusals (no capacity, a closed ticket, no such offer) are answers, not failures.
            with contextlib.suppress(RoutingError):
                await self._do(step)
        assigned = [
            record.data["ticket_id"]
            for record in await outbox(self.engine, metadata, before)
            if record.type == "helpline.ticket.assigned.v1"
        ]
        assert len(assigned) == len(set(assigned)), f"{step} assigned a ticket twice: {assigned}"
        await self.check_load()

    async def _do(self, step: Step) -> None:
        common: dict[str, Any] = {"tenant_id": TENANT, "occurred_at": self.now}
        if isinstance(step, Create):
            ticket_id = TICKETS[step.ticket]
            self.status.setdefault(ticket_id, "new")
            await self.deliver(
                TicketCreated(
                    **common,
                    ticket_id=ticket_id,
                    subject="Export fails",
                    description="since 4.2",
                    requester=Requester(email="cy@example.org"),
                    priority="normal",
                    type="question",
                    tags=step.tags,
                    channel=step.channel,
                )
            )
        elif isinstance(step, Status):
            ticket_id = TICKETS[step.ticket]
            previous = self.status.get(ticket_id, "new")
            self.status[ticket_id] = step.status
            await self.deliver(
                TicketStatusChanged(
                    **common, ticket_id=ticket_id, previous_status=previous, status=step.status
                )
            )
        elif isinstance(step, Update):
            await self.deliver(
                TicketUpdated(
                    **common,
                    ticket_id=TICKETS[step.ticket],
                    changed_fields=("priority", "tags"),
                    priority=step.priority,
                    type="question",
                    tags=step.tags,
                )
            )
        elif isinstance(step, Escalate):
            await self.deliver(
                SlaEscalated(
                    **common,
                    ticket_id=TICKETS[step.ticket],
                    metric="first_response",
                    level=3,
                    deadline=self.now,
                    notify=("manager",),
                    raise_priority_to=step.raise_to,
                    widen_to_team=step.team,
                    clock_version=1,
                    reason="fuzz",
                )
            )
        elif isinstance(step, AgentReply):
            await self.deliver(
                MessageAdded(
                    **common,
                    ticket_id=TICKETS[step.ticket],
                    message_id=new_event_id(),
                    author_role="agent",
                    author_id=self.agents[step.agent],
                    public=True,
                    channel="api",
                    body="…",
                )
            )
        else:
            await self._act(step)

    async def _act(self, step: Step) -> None:
        if isinstance(step, Reassign):
            await admin.assign_directly(
                admin.AssignDirectly(TENANT, TICKETS[step.ticket], self.agents[step.agent]),
                self.unit_of_work(),
            )
        elif isinstance(step, Answer):
            offer_id = await self.open_offer(TICKETS[step.ticket])
            if offer_id is not None:
                await offer_handlers.answer_offer(
                    offer_handlers.AnswerOffer(TENANT, offer_id, step.accept), self.unit_of_work()
                )
        elif isinstance(step, Presence_):
            await agent_handlers.change_presence(
                agent_handlers.ChangePresence(TENANT, self.agents[step.agent], step.presence),
                self.unit_of_work(),
            )
        elif isinstance(step, Fire):
            await fire_timers(self.unit_of_work, step.kind)
        elif isinstance(step, Drain):
            await handlers.drain(self.unit_of_work(), TENANT)

    async def open_offer(self, ticket_id: str) -> str | None:
        """The id of the ticket's open offer, if it has one."""
        async with self.unit_of_work() as uow:
            row = (
                await uow.session.execute(
                    select(offers.c.id).where(
                        offers.c.ticket_id == ticket_id, offers.c.state == "offered"
                    )
                )
            ).first()
        return str(row.id) if row else None

    async def state(self) -> tuple[Any, ...]:
        """The outbox size, every ticket's routing state and every agent's load."""
        async with self.unit_of_work() as uow:
            tickets = [await uow.tickets.get(ticket_id) for ticket_id in TICKETS]
            loads = (
                await uow.session.execute(
                    select(agent_capacity).order_by(
                        agent_capacity.c.agent_id, agent_capacity.c.channel
                    )
                )
            ).all()
        return (
            await outbox_size(self.engine, metadata),
            [repr(ticket) for ticket in tickets],
            [tuple(row) for row in loads],
        )

    async def check_load(self) -> None:
        """No agent beyond capacity; each agent's load is the tickets it holds or is offered."""
        async with self.unit_of_work() as uow:
            held: dict[tuple[str, str], int] = {}
            for ticket_id in TICKETS:
                ticket = await uow.tickets.get(ticket_id)
                # An offer holds its agent's capacity until it is answered or expires.
                if (
                    ticket is not None
                    and ticket.state in ("assigned", "offered")
                    and ticket.counts_load
                ):
                    key = (str(ticket.agent_id), ticket.channel)
                    held[key] = held.get(key, 0) + 1
            rows = (await uow.session.execute(select(agent_capacity))).all()
        for row in rows:
            assert 0 <= row.active <= row.capacity, (
                f"{row.agent_id} holds {row.active} of {row.capacity} on {row.channel}"
            )
            assert row.active == held.get((row.agent_id, row.channel), 0), (
                f"{row.agent_id}'s {row.channel} load {row.active} differs from the "
                f"{held.get((row.agent_id, row.channel), 0)} tickets it holds"
            )


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("routing"), MIGRATIONS)


@given(
    capacities=st.lists(st.integers(1, 2), min_size=len(AGENTS), max_size=len(AGENTS)),
    manual_acceptance=st.booleans(),
    sequence=st.tuples(st.lists(creations, min_size=1, max_size=4), steps).map(
        lambda parts: parts[0] + parts[1]
    ),
)
@fuzz_settings(15)
async def test_random_ticket_and_agent_histories_keep_the_routing_invariants(
    template: Path,
    tmp_path: Path,
    capacities: list[int],
    manual_acceptance: bool,
    sequence: list[Step],
) -> None:
    async with fresh_database(template, tmp_path, metadata, RoutingUnitOfWork) as (
        unit_of_work,
        engine,
    ):
        await admin.save_settings(TENANT, {"manual_acceptance": manual_acceptance}, unit_of_work())
        agent_ids = [
            await register(
                unit_of_work,
                name,
                capacity=capacity,
                teams=frozenset({"tier1" if index else "tier2"}),
            )
            for index, (name, capacity) in enumerate(zip(AGENTS, capacities, strict=True))
        ]
        run = Run(unit_of_work, engine, agent_ids)
        for step in sequence:
            await run.apply(step)
        records = await outbox(engine, metadata)
        assert len({record.event_id for record in records}) == len(records)
        assert not schema_errors(records)

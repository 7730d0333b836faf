"""Routing's use cases: register agents, change presence, assign, release and drain the queue."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from helpline_routing.adapters.repository import Assignment, WaitingTicket
from helpline_routing.domain.errors import AgentNotFound
from helpline_routing.domain.model import (
    PRIORITY_ORDER,
    Agent,
    Presence,
    decide,
    required_skills_for,
)
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared.envelope import Envelope
from helpline_shared.events import Channel, TicketAssigned, TicketCreated, TicketStatusChanged
from helpline_shared.runtime.db import utcnow

CONSUMER = "routing"
FREES_CAPACITY = frozenset({"solved", "closed"})

UnitOfWorkFactory = Callable[[], RoutingUnitOfWork]


@dataclass(frozen=True)
class RegisterAgent:
    """Register an agent with skills and capacity per channel."""

    tenant_id: str
    name: str
    email: str
    skills: dict[str, int]
    capacity: dict[str, int]
    presence: Presence


@dataclass(frozen=True)
class ChangePresence:
    """Set an agent's presence."""

    tenant_id: str
    agent_id: str
    presence: Presence


async def register_agent(command: RegisterAgent, uow: RoutingUnitOfWork) -> Agent:
    """Register the agent; an available one takes waiting work at once."""
    async with uow:
        agent = Agent(
            id=str(uuid.uuid4()), tenant_id=command.tenant_id, name=command.name,
            email=command.email, skills=dict(command.skills), presence=command.presence,
            capacity=dict(command.capacity), active={}, created_at=utcnow(),
        )
        await uow.agents.add(agent)
        if agent.presence == "available":
            await _drain_queue(uow, command.tenant_id)
        await uow.commit()
        return agent


async def change_presence(command: ChangePresence, uow: RoutingUnitOfWork) -> Agent:
    """Set the presence; an agent becoming available takes waiting work at once."""
    async with uow:
        agent = await uow.agents.get(command.tenant_id, command.agent_id)
        if agent is None:
            raise AgentNotFound(command.agent_id)
        await uow.agents.set_presence(agent.id, command.presence)
        if command.presence == "available":
            await _drain_queue(uow, command.tenant_id)
        await uow.commit()
    async with uow:
        refreshed = await uow.agents.get(command.tenant_id, command.agent_id)
    assert refreshed is not None
    return refreshed


async def _try_assign(
    uow: RoutingUnitOfWork,
    *,
    tenant_id: str,
    ticket_id: str,
    required_skills: dict[str, int],
    channel: str,
    now: datetime,
) -> str | None:
    """Assign the ticket to the best agent who still has room; return why not, or None."""
    agents = await uow.agents.of_tenant(tenant_id)
    decision = decide(agents, required_skills, channel)
    for agent in decision.ranked:
        if not await uow.agents.reserve(agent.id, channel, now):
            continue  # another replica took the last unit first; the next best may have room
        await uow.assignments.add(Assignment(
            ticket_id=ticket_id, tenant_id=tenant_id, agent_id=agent.id, channel=channel,
            state="active", assigned_at=now,
        ))
        uow.publish(TicketAssigned(
            tenant_id=tenant_id, ticket_id=ticket_id, occurred_at=now, agent_id=agent.id,
            agent_name=agent.name, agent_email=agent.email, channel=_channel(channel),
            required_skills=tuple(sorted(required_skills)),
            candidates_considered=len(decision.considered),
            reason=decision.explain(agent, required_skills, channel),
        ))
        return None
    if not decision.considered:
        return "no agents registered"
    return "no eligible agent: " + "; ".join(
        f"{candidate.agent_id[:8]} {candidate.outcome}" for candidate in decision.considered[:10]
    )


def _channel(channel: str) -> Channel:
    return "email" if channel == "email" else "api"


async def _drain_queue(uow: RoutingUnitOfWork, tenant_id: str) -> None:
    now = utcnow()
    for waiting in await uow.assignments.waiting(tenant_id):
        reason = await _try_assign(
            uow, tenant_id=tenant_id, ticket_id=waiting.ticket_id,
            required_skills=waiting.required_skills, channel=waiting.channel, now=now,
        )
        if reason is None:
            await uow.assignments.dequeue(waiting.ticket_id)


async def on_ticket_event(envelope: Envelope, uow: RoutingUnitOfWork) -> None:
    """Assign new tickets; free capacity (and drain the queue) when a ticket is solved."""
    event = envelope.event
    if not isinstance(event, TicketCreated | TicketStatusChanged):
        return
    async with uow:
        if not await uow.claim_event(CONSUMER, envelope.id):
            return
        if isinstance(event, TicketCreated):
            await _route_new_ticket(uow, event)
        elif event.status in FREES_CAPACITY:
            await _release(uow, event)
        await uow.commit()


async def _route_new_ticket(uow: RoutingUnitOfWork, event: TicketCreated) -> None:
    if await uow.assignments.get(event.ticket_id) or await uow.assignments.is_waiting(
        event.ticket_id
    ):
        return
    required_skills = required_skills_for(event.tags)
    reason = await _try_assign(
        uow, tenant_id=event.tenant_id, ticket_id=event.ticket_id,
        required_skills=required_skills, channel=event.channel, now=event.occurred_at,
    )
    if reason is not None:
        await uow.assignments.enqueue(WaitingTicket(
            ticket_id=event.ticket_id, tenant_id=event.tenant_id,
            required_skills=required_skills, channel=event.channel,
            priority_rank=PRIORITY_ORDER[event.priority], enqueued_at=event.occurred_at,
            reason=reason[:500],
        ))


async def _release(uow: RoutingUnitOfWork, event: TicketStatusChanged) -> None:
    assignment = await uow.assignments.get(event.ticket_id)
    if assignment is None or assignment.state != "active":
        await uow.assignments.dequeue(event.ticket_id)
        return
    await uow.agents.release(assignment.agent_id, assignment.channel)
    await uow.assignments.release(event.ticket_id, event.occurred_at)
    await _drain_queue(uow, event.tenant_id)

"""The core of routing: decide, reserve, then offer or assign; or queue the ticket with the reason.

Every call here runs inside the caller's unit of work, on a ticket the caller has locked.
"""

import uuid
from datetime import datetime, timedelta
from typing import Any

from helpline_routing.adapters.tickets import HistoryEntry, Offer
from helpline_routing.domain.decision import EXPLAINED_CANDIDATES, Decision
from helpline_routing.domain.model import Agent, Presence
from helpline_routing.domain.tickets import RoutedTicket, TenantSettings
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared.events import (
    Actor,
    AgentPresenceChanged,
    CandidateOutcome,
    Channel,
    PresenceReason,
    Priority,
    RoutingExplanation,
    TicketAssigned,
    TicketOffered,
    TicketQueued,
)

OFFER_EXPIRY = "offer-expiry"
HAND_BACK = "offer-hand-back"
RELAXATION = "relaxation"
AGENT_IDLE = "agent-idle"


def channel_of(ticket: RoutedTicket) -> Channel:
    """The ticket's channel as events spell it."""
    return "email" if ticket.channel == "email" else "api"


def priority_of(ticket: RoutedTicket) -> Priority:
    """The ticket's priority as events spell it."""
    priority = ticket.priority
    return priority if priority in ("low", "normal", "high", "urgent") else "normal"  # type: ignore[return-value]


def explanation_of(
    ticket: RoutedTicket, decision: Decision, winner: Agent | None
) -> RoutingExplanation:
    """The event form of a decision's explanation."""
    return RoutingExplanation(
        rule_id=ticket.rule_id,
        rule_version=ticket.rule_version,
        required_skills=dict(decision.request.required_skills),
        relaxed_skills=ticket.relaxed_skills,
        teams=tuple(sorted(decision.request.teams)),
        preferred_agents=decision.request.preferred,
        # Built unvalidated: two strings the engine made, one per candidate of every decision
        # (validating them was a tenth of a decision's CPU).
        candidates=tuple(
            CandidateOutcome.model_construct(agent_id=candidate.agent_id, outcome=candidate.outcome)
            for candidate in decision.candidates
        ),
        excluded=dict(decision.excluded),
        winner_reason=decision.why_won(winner) if winner else None,
    )


async def record(
    uow: RoutingUnitOfWork,
    ticket: RoutedTicket,
    kind: str,
    summary: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append a step to the ticket's routing history."""
    await uow.history.add(
        ticket.tenant_id,
        ticket.ticket_id,
        HistoryEntry(at=now, kind=kind, summary=summary, detail=detail or {}),
    )


async def preferred_agents(
    uow: RoutingUnitOfWork, ticket: RoutedTicket, settings: TenantSettings, now: datetime
) -> tuple[str, ...]:
    """Affinity: the previous assignee (within the window), then the account manager."""
    preferred: list[str] = []
    previous = ticket.affinity_agent(now, settings)
    if previous:
        preferred.append(previous)
    if ticket.organization_id:
        manager = await uow.config.account_manager(ticket.tenant_id, ticket.organization_id)
        if manager and manager not in preferred:
            preferred.append(manager)
    return tuple(preferred)


async def route(
    uow: RoutingUnitOfWork,
    ticket: RoutedTicket,
    settings: TenantSettings,
    now: datetime,
    *,
    reserve_behind: bool = False,
) -> None:
    """Offer or assign the ticket to the best agent who still has room, or queue it.

    ``reserve_behind``: the unit is taken at the flush (``AgentRepository.reserve``), for
    callers whose failed transaction is applied again (a consumed event), not an HTTP request.
    """
    pool = await uow.pools.pool(ticket.tenant_id)
    preferred = await preferred_agents(uow, ticket, settings, now)
    decision = pool.decide(ticket.request(preferred), explain=EXPLAINED_CANDIDATES)
    later_for = ticket.ticket_id if reserve_behind else None
    for agent in decision.ranked:
        reserved = await uow.agents.reserve(
            ticket.tenant_id, agent.id, ticket.channel, now, later_for=later_for
        )
        if not reserved:
            continue  # another replica took the last unit first; the next best may have room
        explanation = explanation_of(ticket, decision, agent)
        if agent.accepts_automatically(settings.manual_acceptance):
            await assign(uow, ticket, agent, explanation, now, considered=decision.considered)
        else:
            await offer(uow, ticket, agent, explanation, settings, now)
        return
    await queue(
        uow, ticket, settings, decision.queue_reason(), explanation_of(ticket, decision, None), now
    )


async def assign(
    uow: RoutingUnitOfWork,
    ticket: RoutedTicket,
    agent: Agent,
    explanation: RoutingExplanation,
    now: datetime,
    *,
    considered: int = 0,
    offer_id: str | None = None,
    manual: bool = False,
    over_capacity: bool = False,
    actor: Actor | None = None,
) -> None:
    """Give the ticket to ``agent`` (capacity already reserved) and say why."""
    ticket.assign(agent.id)
    await uow.tickets.save(ticket)
    reason = explanation.winner_reason or "assigned"
    uow.publish(
        TicketAssigned(
            tenant_id=ticket.tenant_id,
            ticket_id=ticket.ticket_id,
            occurred_at=now,
            agent_id=agent.id,
            agent_name=agent.name,
            agent_email=agent.email,
            channel=channel_of(ticket),
            required_skills=tuple(sorted(explanation.required_skills)),
            candidates_considered=considered or len(explanation.candidates),
            reason=reason,
            offer_id=offer_id,
            manual=manual,
            over_capacity=over_capacity,
            explanation=explanation,
            actor=actor,
        )
    )
    await record(
        uow,
        ticket,
        "assigned",
        f"assigned to {agent.id}: {reason}",
        now,
        explanation.model_dump(mode="json"),
    )


async def offer(
    uow: RoutingUnitOfWork,
    ticket: RoutedTicket,
    agent: Agent,
    explanation: RoutingExplanation,
    settings: TenantSettings,
    now: datetime,
) -> None:
    """Reserve the ticket for ``agent`` until they answer or the offer expires."""
    offer_id = str(uuid.uuid4())
    expires_at = now + timedelta(seconds=settings.offer_timeout_seconds)
    ticket.offer(agent.id, offer_id)
    await uow.tickets.save(ticket)
    await uow.offers.add(
        Offer(
            id=offer_id,
            tenant_id=ticket.tenant_id,
            ticket_id=ticket.ticket_id,
            agent_id=agent.id,
            state="offered",
            created_at=now,
            expires_at=expires_at,
            explanation=explanation.model_dump(mode="json"),
        )
    )
    await uow.schedule(
        f"{OFFER_EXPIRY}:{offer_id}",
        kind=OFFER_EXPIRY,
        due_at=expires_at,
        payload={"offer_id": offer_id},
    )
    uow.publish(
        TicketOffered(
            tenant_id=ticket.tenant_id,
            ticket_id=ticket.ticket_id,
            occurred_at=now,
            offer_id=offer_id,
            agent_id=agent.id,
            agent_name=agent.name,
            agent_email=agent.email,
            channel=channel_of(ticket),
            expires_at=expires_at,
            explanation=explanation,
        )
    )
    await record(
        uow,
        ticket,
        "offered",
        f"offered to {agent.id} until {expires_at.isoformat()}: {explanation.winner_reason}",
        now,
        explanation.model_dump(mode="json"),
    )


async def queue(
    uow: RoutingUnitOfWork,
    ticket: RoutedTicket,
    settings: TenantSettings,
    reason: str,
    explanation: RoutingExplanation,
    now: datetime,
) -> None:
    """Keep the ticket in the queue with the reason; entering it starts the relaxation timer."""
    entering = ticket.queue(reason[:500])
    await uow.tickets.save(ticket)
    if not entering:
        return
    uow.publish(
        TicketQueued(
            tenant_id=ticket.tenant_id,
            ticket_id=ticket.ticket_id,
            occurred_at=now,
            reason=ticket.queue_reason,
            priority=priority_of(ticket),
            queued_at=ticket.queued_at,
            explanation=explanation,
        )
    )
    await record(
        uow, ticket, "queued", ticket.queue_reason, now, explanation.model_dump(mode="json")
    )
    await schedule_relaxation(uow, ticket, settings)


async def schedule_relaxation(
    uow: RoutingUnitOfWork, ticket: RoutedTicket, settings: TenantSettings
) -> None:
    """Schedule the ticket's next relaxation step, if it has one."""
    step = ticket.next_relaxation(settings)
    if step is None:
        return
    await uow.schedule(
        f"{RELAXATION}:{ticket.ticket_id}:{ticket.queue_entries}:{step.step}",
        kind=RELAXATION,
        due_at=ticket.relaxation_due_at(settings),
        payload={"ticket_id": ticket.ticket_id, "entries": ticket.queue_entries, "step": step.step},
    )


async def hand_back_later(uow: RoutingUnitOfWork, agent_id: str, now: datetime) -> None:
    """Hand back the agent's unanswered offers, each in its own transaction (by timer)."""
    for open_offer in await uow.offers.open_for_agent(agent_id):
        await uow.schedule(
            f"{HAND_BACK}:{open_offer.id}",
            kind=HAND_BACK,
            due_at=now,
            payload={"offer_id": open_offer.id},
        )


async def watch_idle(uow: RoutingUnitOfWork, agent: Agent, settings: TenantSettings) -> None:
    """Schedule the check that sets the agent away if they stay idle."""
    if settings.idle_timeout_seconds <= 0 or agent.presence != "available":
        return
    since = agent.idle_since()
    await uow.schedule(
        f"{AGENT_IDLE}:{agent.id}:{since.isoformat()}",
        kind=AGENT_IDLE,
        due_at=since + timedelta(seconds=settings.idle_timeout_seconds),
        payload={"agent_id": agent.id, "tenant_id": agent.tenant_id},
    )


def presence_changed(
    uow: RoutingUnitOfWork,
    agent: Agent,
    previous: Presence,
    reason: PresenceReason,
    now: datetime,
    actor: Actor | None = None,
) -> None:
    """Publish the agent's change from ``previous`` to its presence now (none when unchanged)."""
    if agent.presence == previous:
        return
    uow.publish(
        AgentPresenceChanged(
            tenant_id=agent.tenant_id,
            agent_id=agent.id,
            user_id=agent.user_id,
            occurred_at=now,
            presence=agent.presence,
            previous=previous,
            reason=reason,
            actor=actor,
        )
    )

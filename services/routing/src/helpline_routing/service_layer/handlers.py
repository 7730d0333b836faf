"""Routing's reactions to ticket, escalation and identity events, and draining the queue.

The consumer applies events through ``handler_table``; the runtime owns each transaction.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

from helpline_routing.domain.rules import TicketFacts, classify
from helpline_routing.domain.tickets import FINAL_STATUSES, RoutedTicket
from helpline_routing.service_layer import decisions
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared.envelope import Envelope
from helpline_shared.events import (
    MessageAdded,
    SlaEscalated,
    TicketClassified,
    TicketCreated,
    TicketStatusChanged,
    TicketUpdated,
    UserDeactivated,
)
from helpline_shared.runtime.consumer import HandlerTable, apply_alone
from helpline_shared.runtime.db import utcnow

log = logging.getLogger(__name__)

CONSUMER = "routing"
EventT = TypeVar("EventT")


def handler_table() -> HandlerTable[RoutingUnitOfWork]:
    """Routing's consumer: the events that route, re-route or free work, and what applies them."""
    return HandlerTable(
        CONSUMER,
        {
            TicketCreated: _apply(_route_new_ticket),
            TicketStatusChanged: _apply(_status_changed),
            TicketUpdated: _apply(_ticket_updated),
            SlaEscalated: _apply(_escalated),
            MessageAdded: _apply(_agent_activity),
            UserDeactivated: _apply(_user_deactivated),
        },
        unneeded=_unneeded,
    )


def _changes_nothing(event: object) -> bool:
    """Whether ``event`` changes nothing routing keeps, whatever it keeps (said by the event)."""
    if isinstance(event, MessageAdded):
        return event.author_role != "agent" or not event.author_id
    if isinstance(event, SlaEscalated):
        return not event.raise_priority_to and not event.widen_to_team
    return False


async def _unneeded(envelopes: Sequence[Envelope]) -> set[str]:
    """Messages not by an agent and escalations asking nothing of routing: acknowledged without
    a transaction or an inbox row (applying them would write neither)."""
    return {envelope.id for envelope in envelopes if _changes_nothing(envelope.event)}


def _apply(
    apply: Callable[[RoutingUnitOfWork, EventT], Awaitable[None]],
) -> Callable[[RoutingUnitOfWork, Envelope], Awaitable[None]]:
    """``apply`` called with the envelope's event (the table guarantees its type)."""

    async def applying(uow: RoutingUnitOfWork, envelope: Envelope) -> None:
        await apply(uow, envelope.event)  # type: ignore[arg-type]

    return applying


async def on_ticket_event(envelope: Envelope, uow: RoutingUnitOfWork) -> None:
    """Apply one event in a transaction of its own, then drain what it freed (tests, tools)."""
    freed: list[str] = []
    uow.drain_soon = freed.append
    await apply_alone(handler_table(), uow, envelope)
    for tenant_id in dict.fromkeys(freed):
        await drain(uow, tenant_id)


async def _route_new_ticket(uow: RoutingUnitOfWork, event: TicketCreated) -> None:
    if not await uow.tickets.is_new(event.ticket_id):
        return
    facts = TicketFacts(
        subject=event.subject,
        body=event.description[:5000],
        tags=event.tags,
        channel=event.channel,
        type=event.type,
        priority=event.priority,
        plan=event.plan,
        language=event.language,
        mailbox=event.mailbox,
    )
    rules, _stored = await uow.config.rules(event.tenant_id)
    found = classify(rules, facts)
    ticket = RoutedTicket(
        ticket_id=event.ticket_id,
        tenant_id=event.tenant_id,
        channel=event.channel,
        priority=found.priority,
        status=event.status,
        rule_id=found.rule_id,
        rule_version=found.rule_version,
        required_skills=found.required_skills,
        optional_skills=found.optional_skills,
        team=found.team,
        queued_at=event.occurred_at,
        language=event.language,
        organization_id=event.organization_id,
        state="closed",
    )
    await uow.tickets.add(ticket, facts)
    uow.publish(
        TicketClassified(
            tenant_id=event.tenant_id,
            ticket_id=event.ticket_id,
            occurred_at=event.occurred_at,
            rule_id=found.rule_id,
            rule_version=found.rule_version,
            required_skills=found.required_skills,
            optional_skills={
                skill: wanted.priority for skill, wanted in found.optional_skills.items()
            },
            priority=decisions.priority_of(ticket),
            team=found.team,
        )
    )
    await decisions.record(
        uow,
        ticket,
        "classified",
        f"rule {found.rule_id} (version {found.rule_version})",
        event.occurred_at,
        {"required_skills": dict(found.required_skills), "team": found.team},
    )
    settings = await uow.config.settings(event.tenant_id)
    # Consumed: a reservation refused at the flush fails the batch, replayed reserving at once.
    await decisions.route(uow, ticket, settings, event.occurred_at, reserve_behind=True)


async def _status_changed(uow: RoutingUnitOfWork, event: TicketStatusChanged) -> None:
    """Apply the status; once committed, capacity it freed drains the tenant's queue."""
    if await _apply_status(uow, event):
        uow.drain_after_commit(event.tenant_id)


async def _apply_status(uow: RoutingUnitOfWork, event: TicketStatusChanged) -> bool:
    """Apply the status; True when capacity was freed (the queue should drain)."""
    settings = await uow.config.settings(event.tenant_id)
    now, status = event.occurred_at, event.status
    counts = status in settings.load_statuses
    if (
        status not in FINAL_STATUSES
        and event.previous_status not in FINAL_STATUSES
        and counts == (event.previous_status in settings.load_statuses)
        and uow.tickets.set_status_later(event.ticket_id, status, counts_load=counts)
    ):
        return False  # the flush checks that the row agrees (intake's new -> open, typically)
    ticket = await uow.tickets.get(event.ticket_id, lock=True)
    if ticket is None:
        return False
    ticket.status = status
    holder = ticket.agent_id
    if status in FINAL_STATUSES:
        if ticket.state == "offered" and ticket.offer_id:
            await uow.offers.close(ticket.offer_id, "withdrawn", now)
        freed = ticket.counts_load and holder is not None
        if freed and holder:
            await uow.agents.release(ticket.tenant_id, holder, ticket.channel)
        ticket.close(now)
        await uow.tickets.save(ticket)
        await decisions.record(uow, ticket, "released", f"ticket {status}", now)
        return freed
    if ticket.state == "closed":
        await decisions.record(uow, ticket, "reopened", f"ticket {status} again", now)
        await decisions.route(uow, ticket, settings, now)
        return False
    freed = False
    if ticket.state == "assigned" and holder:
        if counts and not ticket.counts_load:
            await uow.agents.reserve(ticket.tenant_id, holder, ticket.channel, now, force=True)
        elif ticket.counts_load and not counts:
            await uow.agents.release(ticket.tenant_id, holder, ticket.channel)
            freed = True
        ticket.counts_load = counts
    await uow.tickets.save(ticket)
    return freed


async def _ticket_updated(uow: RoutingUnitOfWork, event: TicketUpdated) -> None:
    ticket = await uow.tickets.get(event.ticket_id, lock=True)
    facts = await uow.tickets.facts(event.ticket_id)
    if ticket is None or facts is None:
        return
    facts = TicketFacts(
        **{**facts.__dict__, "tags": event.tags, "type": event.type, "priority": event.priority}
    )
    if "priority" in event.changed_fields:
        ticket.priority = event.priority
    if ticket.state == "waiting" and {"tags", "type"} & set(event.changed_fields):
        rules, _stored = await uow.config.rules(event.tenant_id)
        ticket.reclassify(classify(rules, facts))
        ticket.priority = event.priority
        await decisions.record(
            uow, ticket, "reclassified", f"rule {ticket.rule_id}", event.occurred_at
        )
        await uow.tickets.save(ticket, facts)
        await decisions.route(
            uow, ticket, await uow.config.settings(event.tenant_id), event.occurred_at
        )
        return
    await uow.tickets.save(ticket, facts)


async def _escalated(uow: RoutingUnitOfWork, event: SlaEscalated) -> None:
    ticket = await uow.tickets.get(event.ticket_id, lock=True)
    if ticket is None:
        return
    changes = []
    if event.raise_priority_to and ticket.raise_priority(event.raise_priority_to):
        changes.append(f"priority raised to {event.raise_priority_to}")
    if event.widen_to_team and ticket.widen(event.widen_to_team):
        changes.append(f"widened to team {event.widen_to_team}")
    if not changes:
        return
    await decisions.record(
        uow,
        ticket,
        "escalated",
        f"escalation level {event.level}: " + ", ".join(changes),
        event.occurred_at,
    )
    await uow.tickets.save(ticket)
    if ticket.state == "waiting":
        await decisions.route(
            uow, ticket, await uow.config.settings(event.tenant_id), event.occurred_at
        )


async def _agent_activity(uow: RoutingUnitOfWork, event: MessageAdded) -> None:
    if _changes_nothing(event) or not event.author_id:  # (the second test narrows the type)
        return
    agent = await uow.agents.get(event.tenant_id, event.author_id)
    if agent is None:
        return
    await uow.agents.touch(agent.id, event.occurred_at)
    agent.last_activity_at = event.occurred_at
    await decisions.watch_idle(uow, agent, await uow.config.settings(event.tenant_id))


async def _user_deactivated(uow: RoutingUnitOfWork, event: UserDeactivated) -> None:
    """A deactivated user's agent goes offline (unroutable), handing back open offers."""
    agent = await uow.agents.by_user(event.tenant_id, event.user_id)
    if agent is not None and agent.presence != "offline":
        now = utcnow()
        await uow.agents.set_presence(agent.tenant_id, agent.id, "offline", now)
        await decisions.hand_back_later(uow, agent.id, now)
        previous, agent.presence = agent.presence, "offline"
        decisions.presence_changed(uow, agent, previous, "lead", now, event.actor)


async def drain(uow: RoutingUnitOfWork, tenant_id: str, now: datetime | None = None) -> int:
    """Offer waiting tickets to agents with room, most urgent and oldest first; return how many.

    Decisions are tried in memory first, so only tickets someone can take open a transaction;
    each of those is routed in its own transaction on the locked ticket (replicas skip it).
    """
    async with uow:
        waiting = await uow.tickets.waiting(tenant_id)
        if not waiting:
            return 0
        pool = await uow.pools.pool(tenant_id)
        settings = await uow.config.settings(tenant_id)
    routed = 0
    for candidate in waiting:
        if pool.decide(candidate.request(), depth=1).winner is None:
            continue
        async with uow:
            ticket = await uow.tickets.get(candidate.ticket_id, lock=True, skip_locked=True)
            if ticket is None or ticket.state != "waiting":
                continue
            await decisions.route(uow, ticket, settings, now or utcnow())
            pool = await uow.pools.pool(tenant_id)  # with the reservation just made
            await uow.commit()
        if ticket.agent_id:
            routed += 1
    return routed


async def drain_all(uow: RoutingUnitOfWork) -> int:
    """Drain every tenant's queue (the safety net after a crash between release and drain)."""
    async with uow:
        tenants = await uow.tickets.tenants_waiting()
    routed = 0
    for tenant_id in tenants:
        routed += await drain(uow, tenant_id)
    return routed


class QueueDrainer:
    """Drains the queues of tenants whose capacity a commit freed, outside that transaction."""

    def __init__(self, unit_of_work: Callable[[], RoutingUnitOfWork]) -> None:
        self._unit_of_work = unit_of_work
        self._tenants: dict[str, None] = {}
        self._wakeup = asyncio.Event()
        self._stopping = False

    def wake(self, tenant_id: str) -> None:
        """Drain ``tenant_id``'s queue soon (called after a commit)."""
        self._tenants[tenant_id] = None
        self._wakeup.set()

    async def run(self) -> None:
        """Drain woken tenants until stopped (the tenants woken by then are drained first)."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            tenants, self._tenants = list(self._tenants), {}
            for tenant_id in tenants:
                try:
                    await drain(self._unit_of_work(), tenant_id)
                except Exception:  # the queue sweeper drains it later
                    log.exception("draining after a release failed", extra={"tenant_id": tenant_id})
            if self._stopping:
                return

    async def stop(self) -> None:
        """End ``run`` once it has drained the tenants woken so far."""
        self._stopping = True
        self._wakeup.set()

"""Admin use cases: manual assignment, rules, settings, organisations, a ticket's routing."""

from dataclasses import dataclass
from typing import Any

from helpline_routing.adapters.tickets import HistoryEntry
from helpline_routing.domain.errors import (
    AgentNotFound,
    NoCapacityLeft,
    TicketClosed,
    TicketNotRouted,
)
from helpline_routing.domain.rules import RuleSet
from helpline_routing.domain.tickets import RoutedTicket, TenantSettings
from helpline_routing.service_layer import decisions
from helpline_routing.service_layer.handlers import drain
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared.events import Actor, RoutingExplanation
from helpline_shared.runtime.db import utcnow


@dataclass(frozen=True)
class AssignDirectly:
    """A lead or an admin assigns (or reassigns) a ticket to an agent."""

    tenant_id: str
    ticket_id: str
    agent_id: str
    exceed_capacity: bool = False
    actor: Actor | None = None
    """Who overrides the assignment (from the credential); carried by ``TicketAssigned``."""


async def assign_directly(command: AssignDirectly, uow: RoutingUnitOfWork) -> RoutedTicket:
    """Assign within capacity, or beyond it only with the explicit flag (recorded)."""
    now = utcnow()
    async with uow:
        ticket = await uow.tickets.get(command.ticket_id, lock=True)
        if ticket is None or ticket.tenant_id != command.tenant_id:
            raise TicketNotRouted(command.ticket_id)
        if ticket.state == "closed" and ticket.status in ("solved", "closed"):
            raise TicketClosed(command.ticket_id)
        agent = await uow.agents.get(command.tenant_id, command.agent_id)
        if agent is None:
            raise AgentNotFound(command.agent_id)
        if ticket.state == "assigned" and ticket.agent_id == agent.id:
            return ticket
        over_capacity = not agent.has_room(ticket.channel)
        if not await uow.agents.reserve(
            ticket.tenant_id, agent.id, ticket.channel, now, force=command.exceed_capacity
        ):
            raise NoCapacityLeft(agent.id)
        previous, freed = ticket.agent_id, ticket.counts_load and ticket.agent_id is not None
        if freed and previous:
            await uow.agents.release(ticket.tenant_id, previous, ticket.channel)
        if ticket.state == "offered" and ticket.offer_id:
            await uow.offers.close(ticket.offer_id, "superseded", now)
        reason = "manual assignment" + (", exceeding capacity" if over_capacity else "")
        explanation = RoutingExplanation(
            rule_id=ticket.rule_id,
            rule_version=ticket.rule_version,
            required_skills=ticket.wanted_skills(),
            winner_reason=reason,
        )
        await decisions.assign(
            uow,
            ticket,
            agent,
            explanation,
            now,
            manual=True,
            over_capacity=over_capacity,
            actor=command.actor,
        )
        await uow.commit()
    if freed:
        await drain(uow, command.tenant_id)
    return ticket


async def ticket_routing(
    tenant_id: str, ticket_id: str, uow: RoutingUnitOfWork
) -> tuple[RoutedTicket, list[HistoryEntry]]:
    """The ticket's routing state and its history of decisions with their explanations."""
    async with uow:
        ticket = await uow.tickets.get(ticket_id)
        if ticket is None or ticket.tenant_id != tenant_id:
            raise TicketNotRouted(ticket_id)
        return ticket, await uow.history.of_ticket(tenant_id, ticket_id)


async def replace_rules(
    tenant_id: str, data: dict[str, Any], uow: RoutingUnitOfWork
) -> tuple[RuleSet, dict[str, Any] | None]:
    """Store a new version of the tenant's ordered rules (tickets already routed keep theirs)."""
    async with uow:
        version = await uow.config.add_rules(tenant_id, data, utcnow())
        await uow.commit()
        return await uow.config.rules(tenant_id, version)


async def rules(
    tenant_id: str, uow: RoutingUnitOfWork, version: int | None = None
) -> tuple[RuleSet, dict[str, Any] | None]:
    """The tenant's current (or given) rules; version 0 is the built-in default."""
    async with uow:
        return await uow.config.rules(tenant_id, version)


async def save_settings(
    tenant_id: str, data: dict[str, Any], uow: RoutingUnitOfWork
) -> TenantSettings:
    """Replace the tenant's routing settings."""
    async with uow:
        await uow.config.save_settings(tenant_id, data)
        await uow.commit()
        return await uow.config.settings(tenant_id)


async def settings(tenant_id: str, uow: RoutingUnitOfWork) -> TenantSettings:
    """The tenant's routing settings."""
    async with uow:
        return await uow.config.settings(tenant_id)


async def set_account_manager(
    tenant_id: str, organization_id: str, agent_id: str | None, uow: RoutingUnitOfWork
) -> None:
    """Set the organisation's dedicated account manager (preferred by affinity)."""
    async with uow:
        if agent_id is not None and await uow.agents.get(tenant_id, agent_id) is None:
            raise AgentNotFound(agent_id)
        await uow.config.set_account_manager(tenant_id, organization_id, agent_id)
        await uow.commit()

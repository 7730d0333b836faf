"""Routing's figures for leads: each agent's presence, open assignments and capacity."""

from dataclasses import dataclass
from datetime import datetime
from typing import get_args

from helpline_routing.domain.model import Agent, Presence
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared.runtime.db import utcnow


@dataclass(frozen=True)
class AgentFigures:
    """One agent and how many open tickets they hold."""

    agent: Agent
    load: int


@dataclass(frozen=True)
class AgentsReport:
    """The tenant's agents with their figures, and how many agents have each presence."""

    generated_at: datetime
    agents: list[AgentFigures]
    by_presence: dict[Presence, int]


async def agents_report(tenant_id: str, uow: RoutingUnitOfWork) -> AgentsReport:
    """The tenant's agents by name, each with the open tickets assigned to them."""
    async with uow:
        found = await uow.agents.of_tenant(tenant_id)
        held = await uow.tickets.assigned_by_agent(tenant_id)
    by_presence: dict[Presence, int] = dict.fromkeys(get_args(Presence), 0)
    for agent in found:
        by_presence[agent.presence] += 1
    return AgentsReport(
        generated_at=utcnow(),
        agents=[
            AgentFigures(agent, held.get(agent.id, 0))
            for agent in sorted(found, key=lambda agent: (agent.name.casefold(), agent.id))
        ],
        by_presence=by_presence,
    )

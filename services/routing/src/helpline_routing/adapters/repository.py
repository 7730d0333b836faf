"""Agents, capacity, assignments and the waiting queue in the database."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_routing.adapters.orm import agent_capacity, agents, assignments, waiting_tickets
from helpline_routing.domain.model import Agent, Presence


@dataclass(frozen=True)
class WaitingTicket:
    """A ticket no agent could take yet."""

    ticket_id: str
    tenant_id: str
    required_skills: dict[str, int]
    channel: str
    priority_rank: int
    enqueued_at: datetime
    reason: str


@dataclass(frozen=True)
class Assignment:
    """Which agent holds a ticket."""

    ticket_id: str
    tenant_id: str
    agent_id: str
    channel: str
    state: str
    assigned_at: datetime


class AgentRepository:
    """Agents with their capacity; capacity only changes by atomic conditional updates."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, agent: Agent) -> None:
        """Insert an agent and its capacity per channel."""
        await self._session.execute(
            insert(agents).values(
                id=agent.id, tenant_id=agent.tenant_id, name=agent.name, email=agent.email,
                skills=agent.skills, presence=agent.presence, created_at=agent.created_at,
                last_assigned_at=agent.last_assigned_at,
            )
        )
        if agent.capacity:
            await self._session.execute(
                insert(agent_capacity),
                [{"agent_id": agent.id, "channel": channel, "capacity": capacity, "active": 0}
                 for channel, capacity in agent.capacity.items()],
            )

    async def _load(self, rows: list[Any]) -> list[Agent]:
        if not rows:
            return []
        capacity_rows = await self._session.execute(
            select(agent_capacity).where(agent_capacity.c.agent_id.in_([row.id for row in rows]))
        )
        capacity: dict[str, dict[str, int]] = {}
        active: dict[str, dict[str, int]] = {}
        for row in capacity_rows:
            capacity.setdefault(row.agent_id, {})[row.channel] = row.capacity
            active.setdefault(row.agent_id, {})[row.channel] = row.active
        return [
            Agent(id=row.id, tenant_id=row.tenant_id, name=row.name, email=row.email,
                  skills=dict(row.skills), presence=row.presence,
                  capacity=capacity.get(row.id, {}), active=active.get(row.id, {}),
                  created_at=row.created_at, last_assigned_at=row.last_assigned_at)
            for row in rows
        ]

    async def get(self, tenant_id: str, agent_id: str) -> Agent | None:
        """The tenant's agent with that id, or None."""
        rows = (await self._session.execute(
            select(agents).where(agents.c.id == agent_id, agents.c.tenant_id == tenant_id)
        )).all()
        found = await self._load(list(rows))
        return found[0] if found else None

    async def of_tenant(self, tenant_id: str, presence: Presence | None = None) -> list[Agent]:
        """The tenant's agents, optionally only those with ``presence``."""
        query = select(agents).where(agents.c.tenant_id == tenant_id)
        if presence:
            query = query.where(agents.c.presence == presence)
        rows = (await self._session.execute(query.order_by(agents.c.created_at))).all()
        return await self._load(list(rows))

    async def set_presence(self, agent_id: str, presence: Presence) -> None:
        """Record the agent's presence."""
        await self._session.execute(
            update(agents).where(agents.c.id == agent_id).values(presence=presence)
        )

    async def reserve(self, agent_id: str, channel: str, now: datetime) -> bool:
        """Take one unit of the agent's capacity on ``channel`` if any is left, atomically.

        The condition ``active < capacity`` is checked by the database in the same statement, so
        concurrent routing replicas can never push an agent past capacity.
        """
        result = await self._session.execute(
            update(agent_capacity)
            .where(agent_capacity.c.agent_id == agent_id, agent_capacity.c.channel == channel,
                   agent_capacity.c.active < agent_capacity.c.capacity)
            .values(active=agent_capacity.c.active + 1)
        )
        if getattr(result, "rowcount", 0) != 1:
            return False
        await self._session.execute(
            update(agents).where(agents.c.id == agent_id).values(last_assigned_at=now)
        )
        return True

    async def release(self, agent_id: str, channel: str) -> None:
        """Give back one unit of the agent's capacity on ``channel``."""
        await self._session.execute(
            update(agent_capacity)
            .where(agent_capacity.c.agent_id == agent_id, agent_capacity.c.channel == channel,
                   agent_capacity.c.active > 0)
            .values(active=agent_capacity.c.active - 1)
        )


class AssignmentRepository:
    """Assignments and the waiting queue."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, ticket_id: str) -> Assignment | None:
        """The ticket's assignment, or None."""
        row = (await self._session.execute(
            select(assignments).where(assignments.c.ticket_id == ticket_id)
        )).first()
        return Assignment(**{key: row._mapping[key] for key in Assignment.__dataclass_fields__}
                          ) if row else None

    async def add(self, assignment: Assignment) -> None:
        """Record a new assignment."""
        await self._session.execute(insert(assignments).values(**assignment.__dict__))

    async def release(self, ticket_id: str, now: datetime) -> None:
        """Mark the ticket's assignment released."""
        await self._session.execute(
            update(assignments).where(assignments.c.ticket_id == ticket_id)
            .values(state="released", released_at=now)
        )

    async def is_waiting(self, ticket_id: str) -> bool:
        """Whether the ticket waits in the queue."""
        row = (await self._session.execute(
            select(waiting_tickets.c.ticket_id).where(waiting_tickets.c.ticket_id == ticket_id)
        )).first()
        return row is not None

    async def enqueue(self, waiting: WaitingTicket) -> None:
        """Put a ticket in the waiting queue."""
        await self._session.execute(insert(waiting_tickets).values(**waiting.__dict__))

    async def dequeue(self, ticket_id: str) -> None:
        """Take a ticket out of the waiting queue."""
        await self._session.execute(
            delete(waiting_tickets).where(waiting_tickets.c.ticket_id == ticket_id)
        )

    async def waiting(self, tenant_id: str, limit: int = 100) -> list[WaitingTicket]:
        """The tenant's waiting tickets, highest priority first, then oldest."""
        rows = await self._session.execute(
            select(waiting_tickets).where(waiting_tickets.c.tenant_id == tenant_id)
            .order_by(waiting_tickets.c.priority_rank, waiting_tickets.c.enqueued_at)
            .limit(limit)
        )
        return [WaitingTicket(**{key: row._mapping[key]
                                 for key in WaitingTicket.__dataclass_fields__}) for row in rows]

"""Agents and their capacity; capacity only changes by atomic conditional updates.

A decision's reservation is written behind (``reserve(..., later_for=ticket_id)``): the unit of
work's flush takes every unit reserved in the transaction at once, each still guarded by
``active < capacity`` in the database, in one statement (PostgreSQL: one fixed text with array
parameters, which also writes when each agent was last assigned; SQLite: one executemany). If
the database refuses a unit (another replica took it since the pool was checked) the transaction
fails (``CapacityTaken``) and its events applied again one per transaction reserve at once, as
before, trying the next best agent: never more than the capacity, as before.
"""

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_routing.adapters.orm import agent_capacity, agents
from helpline_routing.domain.engine import AgentPool
from helpline_routing.domain.errors import AgentUserTaken
from helpline_routing.domain.model import Agent, Presence
from helpline_shared.runtime.db import refused_as
from helpline_shared.runtime.uow import LookFirst, RowWrittenBefore

PoolChange = Callable[[AgentPool], None]
Changed = Callable[[str, PoolChange | None], None]
"""Told each change to a tenant's agents, as the change to its pool (None: rebuild it)."""


def _unheard(_tenant_id: str, _change: PoolChange | None) -> None:
    pass


_ASSIGNED = (
    update(agents)
    .where(agents.c.id == bindparam("b_agent_id"))
    .values(last_assigned_at=bindparam("last_assigned_at"))
)


_CAPACITY = (
    agent_capacity.c.agent_id == bindparam("b_agent_id"),
    agent_capacity.c.channel == bindparam("b_channel"),
)
# Built once: building and keying a statement per call cost more than running it.
_RESERVE = (
    update(agent_capacity)
    .where(*_CAPACITY, agent_capacity.c.active < agent_capacity.c.capacity)
    .values(active=agent_capacity.c.active + 1)
)
_RESERVE_ANYWAY = (
    update(agent_capacity).where(*_CAPACITY).values(active=agent_capacity.c.active + 1)
)
_RESERVE_ALL = text(
    """
    WITH wanted AS (
        SELECT agent_id, channel, count(*) AS n
        FROM unnest(CAST(:agent_ids AS VARCHAR[]), CAST(:channels AS VARCHAR[]))
            AS unit(agent_id, channel)
        GROUP BY agent_id, channel
    ), reserved AS (
        UPDATE agent_capacity SET active = agent_capacity.active + wanted.n
        FROM wanted
        WHERE agent_capacity.agent_id = wanted.agent_id
            AND agent_capacity.channel = wanted.channel
            AND agent_capacity.active + wanted.n <= agent_capacity.capacity
        RETURNING wanted.n
    ), assigned AS (
        UPDATE agents SET last_assigned_at = latest.at
        FROM unnest(CAST(:assigned_ids AS VARCHAR[]), CAST(:assigned_ats AS TIMESTAMPTZ[]))
            AS latest(id, at)
        WHERE agents.id = latest.id
    )
    SELECT coalesce(sum(n), 0) FROM reserved
    """
)
"""PostgreSQL: every unit reserved behind, guarded, and the last assignments, in one statement
whose text is the same for any batch; the units it took."""


class CapacityTaken(RowWrittenBefore):
    """A unit reserved behind was refused by the database (another replica took it first): the
    transaction fails, and its events applied again one per transaction reserve at once."""


_RELEASE = (
    update(agent_capacity)
    .where(*_CAPACITY, agent_capacity.c.active > 0)
    .values(active=agent_capacity.c.active - 1)
)


def _user_unique(agent: Agent) -> contextlib.AbstractContextManager[None]:
    """Writing ``agent``'s row: a refusal by the unique key (tenant, user) is ``AgentUserTaken``
    (``refused_as``: a concurrent transaction may write the user's agent after the service
    looked for it)."""
    return refused_as(None if agent.user_id is None else AgentUserTaken(agent.user_id))


class AgentRepository:
    """The tenant's agents with their capacity per channel; every change is told ``changed``.

    When each agent was last assigned is written behind, for all agents at once by ``flush``
    (the commit flushes; reads of agents flush first): it only ranks, while the capacity a
    reservation takes is written at once, guarded by the database.
    """

    def __init__(
        self,
        session: AsyncSession,
        changed: Changed = _unheard,
        look_first: LookFirst | None = None,
    ) -> None:
        self._session = session
        self._changed = changed
        self._look_first = look_first or LookFirst()
        self._assigned: dict[str, datetime] = {}
        self._reserving: list[tuple[str, str, str]] = []
        """Units reserved behind: (agent, channel, the ticket they are for)."""

    def discard(self) -> None:
        """Forget the last assignments and reservations kept so far (rolled back)."""
        self._assigned, self._reserving = {}, []

    async def flush(self) -> None:
        """Take the units reserved behind and write when each agent reserved here was last
        assigned: one statement on PostgreSQL, one for each on SQLite."""
        reserving, self._reserving = self._reserving, []
        assigned, self._assigned = self._assigned, {}
        if self._session.get_bind().dialect.name == "postgresql":
            if reserving or assigned:
                taken = (
                    await self._session.execute(
                        _RESERVE_ALL,
                        {
                            "agent_ids": [agent_id for agent_id, _c, _t in reserving],
                            "channels": [channel for _a, channel, _t in reserving],
                            "assigned_ids": list(assigned),
                            "assigned_ats": list(assigned.values()),
                        },
                    )
                ).scalar_one()
                self._refused(reserving, len(reserving) - int(taken))
            return
        if reserving:
            result = await self._session.execute(
                _RESERVE,
                [
                    {"b_agent_id": agent_id, "b_channel": channel}
                    for agent_id, channel, _t in reserving
                ],
            )
            self._refused(reserving, len(reserving) - getattr(result, "rowcount", 0))
        if assigned:
            await self._session.execute(
                _ASSIGNED,
                [{"b_agent_id": key, "last_assigned_at": at} for key, at in assigned.items()],
            )

    def _refused(self, reserving: list[tuple[str, str, str]], refused: int) -> None:
        if refused:
            tickets = sorted({ticket_id for _a, _c, ticket_id in reserving})
            self._look_first.mark(("reserve", ticket_id) for ticket_id in tickets)
            raise CapacityTaken(
                "reserve capacity behind", tickets, LookupError(f"{refused} units refused")
            )

    async def _reserved_first(self) -> None:
        """Take the units reserved behind before capacity is written or read at once."""
        if self._reserving:
            await self.flush()

    async def add(self, agent: Agent) -> None:
        """Insert an agent and its capacity per channel."""
        self._changed(agent.tenant_id, None)
        with _user_unique(agent):
            await self._session.execute(
                insert(agents).values(
                    id=agent.id,
                    tenant_id=agent.tenant_id,
                    name=agent.name,
                    email=agent.email,
                    skills=agent.skills,
                    presence=agent.presence,
                    created_at=agent.created_at,
                    last_assigned_at=agent.last_assigned_at,
                    languages=sorted(agent.languages),
                    teams=sorted(agent.teams),
                    last_activity_at=agent.last_activity_at,
                    expired_offers_in_row=agent.expired_offers_in_row,
                    auto_accept=agent.auto_accept,
                    user_id=agent.user_id,
                )
            )
        if agent.capacity:
            await self._session.execute(
                insert(agent_capacity),
                [
                    {"agent_id": agent.id, "channel": channel, "capacity": capacity, "active": 0}
                    for channel, capacity in agent.capacity.items()
                ],
            )

    async def update_profile(self, agent: Agent) -> None:
        """Store skills, languages, teams, capacity and the user (never the load)."""
        await self._reserved_first()
        self._changed(agent.tenant_id, None)
        with _user_unique(agent):
            await self._session.execute(
                update(agents)
                .where(agents.c.id == agent.id)
                .values(
                    name=agent.name,
                    skills=agent.skills,
                    languages=sorted(agent.languages),
                    teams=sorted(agent.teams),
                    auto_accept=agent.auto_accept,
                    user_id=agent.user_id,
                )
            )
        existing = {
            row.channel
            for row in await self._session.execute(
                select(agent_capacity.c.channel).where(agent_capacity.c.agent_id == agent.id)
            )
        }
        for channel, capacity in agent.capacity.items():
            if channel in existing:
                await self._session.execute(
                    update(agent_capacity)
                    .where(
                        agent_capacity.c.agent_id == agent.id, agent_capacity.c.channel == channel
                    )
                    .values(capacity=capacity)
                )
            else:
                await self._session.execute(
                    insert(agent_capacity).values(
                        agent_id=agent.id, channel=channel, capacity=capacity, active=0
                    )
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
            Agent(
                id=row.id,
                tenant_id=row.tenant_id,
                name=row.name,
                email=row.email,
                skills=dict(row.skills),
                presence=row.presence,
                capacity=capacity.get(row.id, {}),
                active=active.get(row.id, {}),
                created_at=row.created_at,
                last_assigned_at=row.last_assigned_at,
                languages=frozenset(row.languages or ()),
                teams=frozenset(row.teams or ()),
                last_activity_at=row.last_activity_at,
                expired_offers_in_row=row.expired_offers_in_row,
                auto_accept=row.auto_accept,
                user_id=row.user_id,
            )
            for row in rows
        ]

    async def get(self, tenant_id: str, agent_id: str) -> Agent | None:
        """The tenant's agent with that id, or None."""
        await self.flush()
        rows = (
            await self._session.execute(
                select(agents).where(agents.c.id == agent_id, agents.c.tenant_id == tenant_id)
            )
        ).all()
        found = await self._load(list(rows))
        return found[0] if found else None

    async def by_user(self, tenant_id: str, user_id: str) -> Agent | None:
        """The tenant's agent who is identity user ``user_id``, or None."""
        await self.flush()
        rows = (
            await self._session.execute(
                select(agents).where(agents.c.tenant_id == tenant_id, agents.c.user_id == user_id)
            )
        ).all()
        found = await self._load(list(rows))
        return found[0] if found else None

    async def of_tenant(self, tenant_id: str, presence: Presence | None = None) -> list[Agent]:
        """The tenant's agents, optionally only those with ``presence``."""
        await self.flush()
        query = select(agents).where(agents.c.tenant_id == tenant_id)
        if presence:
            query = query.where(agents.c.presence == presence)
        rows = (await self._session.execute(query.order_by(agents.c.created_at))).all()
        return await self._load(list(rows))

    async def set_presence(
        self, tenant_id: str, agent_id: str, presence: Presence, now: datetime | None = None
    ) -> None:
        """Record the agent's presence (and activity, when ``now`` is given)."""
        self._changed(tenant_id, lambda pool: pool.set_presence(agent_id, presence))
        values: dict[str, Any] = {"presence": presence}
        if now is not None:
            values["last_activity_at"] = now
        await self._session.execute(update(agents).where(agents.c.id == agent_id).values(values))

    async def record_offer_outcome(self, agent: Agent) -> None:
        """Store the run of expired offers, presence and activity after an offer's outcome."""
        self._changed(agent.tenant_id, lambda pool: pool.set_presence(agent.id, agent.presence))
        await self._session.execute(
            update(agents)
            .where(agents.c.id == agent.id)
            .values(
                expired_offers_in_row=agent.expired_offers_in_row,
                presence=agent.presence,
                last_activity_at=agent.last_activity_at,
            )
        )

    async def touch(self, agent_id: str, now: datetime) -> None:
        """Record activity of the agent."""
        await self._session.execute(
            update(agents).where(agents.c.id == agent_id).values(last_activity_at=now)
        )

    async def reserve(
        self,
        tenant_id: str,
        agent_id: str,
        channel: str,
        now: datetime,
        *,
        force: bool = False,
        later_for: str | None = None,
    ) -> bool:
        """Take one unit of the agent's capacity on ``channel`` if any is left, atomically.

        The condition ``active < capacity`` is checked by the database in the same statement, so
        concurrent routing replicas can never push an agent past capacity. ``force`` skips the
        condition (an admin's explicit override, or a ticket whose status counts again).
        ``later_for``: the ticket of a decision whose pool says the agent has room; the unit is
        taken at the flush (see the module), at once if taking it behind failed before.
        """
        if (
            later_for is not None
            and not force
            and not self._look_first.take(("reserve", later_for))
        ):
            self._reserving.append((agent_id, channel, later_for))
            self._note_reserved(tenant_id, agent_id, channel, now)
            return True
        await self._reserved_first()
        result = await self._session.execute(
            _RESERVE_ANYWAY if force else _RESERVE, {"b_agent_id": agent_id, "b_channel": channel}
        )
        if getattr(result, "rowcount", 0) != 1:
            if not force:
                return False
            await self._session.execute(
                insert(agent_capacity).values(
                    agent_id=agent_id, channel=channel, capacity=0, active=1
                )
            )
        self._note_reserved(tenant_id, agent_id, channel, now)
        return True

    def _note_reserved(self, tenant_id: str, agent_id: str, channel: str, now: datetime) -> None:
        previous = self._assigned.get(agent_id)
        self._assigned[agent_id] = now if previous is None else max(previous, now)
        self._changed(tenant_id, lambda pool: pool.reserve(agent_id, channel, at=now))

    async def release(self, tenant_id: str, agent_id: str, channel: str) -> None:
        """Give back one unit of the agent's capacity on ``channel``."""
        await self._reserved_first()
        self._changed(tenant_id, lambda pool: pool.release(agent_id, channel))
        await self._session.execute(_RELEASE, {"b_agent_id": agent_id, "b_channel": channel})

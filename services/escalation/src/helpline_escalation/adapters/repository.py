"""SLA clocks, tickets' facts and policies in the database, always addressed with their tenant."""

from dataclasses import fields
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_escalation.adapters.orm import sla_clocks, sla_cycles, sla_policies, sla_tickets
from helpline_escalation.adapters.policy_documents import PolicyDocument
from helpline_escalation.domain.model import SlaClock
from helpline_escalation.domain.policy import SlaPolicy, TicketFacts
from helpline_shared.runtime.db import utcnow

_COLUMNS = [field.name for field in fields(SlaClock)]
_KEY = ("tenant_id", "ticket_id", "metric")
# Revision 0001 stored the outcome in ``state``; a stopped clock now says so, met or not.
_LEGACY_STATES = {"met": "stopped", "breached": "running"}


def _clock(row: Any) -> SlaClock:
    values = {name: getattr(row, name) for name in _COLUMNS}
    state = _LEGACY_STATES.get(values["state"], values["state"])
    values["state"] = "stopped" if row.stopped_at is not None else state
    values["resumed_at"] = row.resumed_at or row.started_at
    values["sent"] = tuple(row.sent or ())
    values["history"] = tuple(row.history or ())
    return SlaClock(**values)


def _row(clock: SlaClock) -> dict[str, Any]:
    values = {name: getattr(clock, name) for name in _COLUMNS}
    values["sent"] = list(clock.sent)
    values["history"] = list(clock.history)
    return values


def _cycle_outcome(clock: SlaClock) -> dict[str, Any]:
    return {
        "started_at": clock.started_at,
        "stopped_at": clock.stopped_at,
        "breached_at": clock.breached_at,
        "paused_seconds": clock.paused_seconds,
        "active_seconds": clock.active_seconds,
    }


class SlaClockRepository:
    """Reads and writes SLA clocks (and the record of each cycle); callers pass the tenant."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, clock: SlaClock) -> None:
        """Insert a new clock."""
        await self._session.execute(insert(sla_clocks).values(**_row(clock)))
        await self.record_cycle(clock)

    async def record_cycle(self, clock: SlaClock) -> None:
        """Write the outcome of the clock's cycle (``add`` and ``save`` do; a restart too)."""
        # Callers hold the clock's row lock, so nobody inserts the same cycle in between.
        written = await self._session.execute(
            update(sla_cycles)
            .where(
                sla_cycles.c.tenant_id == clock.tenant_id,
                sla_cycles.c.ticket_id == clock.ticket_id,
                sla_cycles.c.metric == clock.metric,
                sla_cycles.c.cycle == clock.cycle,
            )
            .values(_cycle_outcome(clock))
        )
        if not getattr(written, "rowcount", 0):
            await self._session.execute(
                insert(sla_cycles).values(
                    tenant_id=clock.tenant_id,
                    ticket_id=clock.ticket_id,
                    metric=clock.metric,
                    cycle=clock.cycle,
                    **_cycle_outcome(clock),
                )
            )

    async def get(
        self, tenant_id: str, ticket_id: str, metric: str, *, for_update: bool = False
    ) -> SlaClock | None:
        """The clock of that ticket and metric, or None; ``for_update`` locks it until commit."""
        query = select(sla_clocks).where(
            sla_clocks.c.tenant_id == tenant_id,
            sla_clocks.c.ticket_id == ticket_id,
            sla_clocks.c.metric == metric,
        )
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        return _clock(row) if row else None

    async def for_ticket(
        self, tenant_id: str, ticket_id: str, *, for_update: bool = False
    ) -> list[SlaClock]:
        """Every clock of the tenant's ticket, by metric."""
        query = (
            select(sla_clocks)
            .where(sla_clocks.c.tenant_id == tenant_id, sla_clocks.c.ticket_id == ticket_id)
            .order_by(sla_clocks.c.metric)
        )
        if for_update:
            query = query.with_for_update()
        return [_clock(row) for row in await self._session.execute(query)]

    async def open_on_policy(self, tenant_id: str, policy_id: str) -> list[SlaClock]:
        """Running or paused clocks of the tenant on any version of ``policy_id``, locked."""
        query = (
            select(sla_clocks)
            .where(
                sla_clocks.c.tenant_id == tenant_id,
                sla_clocks.c.policy_id == policy_id,
                sla_clocks.c.stopped_at.is_(None),
            )
            .order_by(sla_clocks.c.ticket_id, sla_clocks.c.metric)
            .with_for_update()
        )
        return [_clock(row) for row in await self._session.execute(query)]

    async def save(self, clock: SlaClock) -> None:
        """Write back a changed clock."""
        values = {name: value for name, value in _row(clock).items() if name not in _KEY}
        await self._session.execute(
            update(sla_clocks)
            .where(
                sla_clocks.c.tenant_id == clock.tenant_id,
                sla_clocks.c.ticket_id == clock.ticket_id,
                sla_clocks.c.metric == clock.metric,
            )
            .values(values)
        )
        await self.record_cycle(clock)


class TicketRepository:
    """What escalation knows of each ticket: the facts policies look at, and its policy."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self, tenant_id: str, ticket_id: str, facts: TicketFacts, policy: SlaPolicy
    ) -> None:
        """Record a new ticket and the policy version it follows."""
        await self._session.execute(
            insert(sla_tickets).values(
                tenant_id=tenant_id,
                ticket_id=ticket_id,
                priority=facts.priority,
                type=facts.type,
                channel=facts.channel,
                plan=facts.plan,
                organization_id=facts.organization_id,
                policy_id=policy.policy_id,
                policy_version=policy.version,
            )
        )

    async def get(self, tenant_id: str, ticket_id: str) -> tuple[TicketFacts, str, int] | None:
        """The ticket's facts, policy id and policy version; None if unknown."""
        row = (
            await self._session.execute(
                select(sla_tickets).where(
                    sla_tickets.c.tenant_id == tenant_id, sla_tickets.c.ticket_id == ticket_id
                )
            )
        ).first()
        if row is None:
            return None
        facts = TicketFacts(
            priority=row.priority,
            type=row.type,
            channel=row.channel,
            plan=row.plan,
            organization_id=row.organization_id,
        )
        return facts, row.policy_id, row.policy_version

    async def set_priority(self, tenant_id: str, ticket_id: str, priority: str) -> None:
        """Record the ticket's new priority."""
        await self._session.execute(
            update(sla_tickets)
            .where(
                sla_tickets.c.tenant_id == tenant_id,
                sla_tickets.c.ticket_id == ticket_id,
            )
            .values(priority=priority)
        )

    async def follow(self, tenant_id: str, ticket_id: str, policy: SlaPolicy) -> None:
        """Record that the ticket now follows ``policy``'s version."""
        await self._session.execute(
            update(sla_tickets)
            .where(
                sla_tickets.c.tenant_id == tenant_id,
                sla_tickets.c.ticket_id == ticket_id,
            )
            .values(policy_id=policy.policy_id, policy_version=policy.version)
        )


class PolicyRepository:
    """Every version of every SLA policy of a tenant (versions are never changed)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_version(
        self, tenant_id: str, document: PolicyDocument, policy_id: str
    ) -> SlaPolicy:
        """Store ``document`` as the next version of ``policy_id``; return it."""
        latest = (
            await self._session.execute(
                select(func.max(sla_policies.c.version)).where(
                    sla_policies.c.tenant_id == tenant_id, sla_policies.c.policy_id == policy_id
                )
            )
        ).scalar()
        version = (latest or 0) + 1
        await self._session.execute(
            insert(sla_policies).values(
                tenant_id=tenant_id,
                policy_id=policy_id,
                version=version,
                position=document.position,
                document=document.model_dump(mode="json"),
                created_at=utcnow(),
            )
        )
        return document.to_policy(policy_id, version)

    async def current(self, tenant_id: str) -> list[SlaPolicy]:
        """The latest version of each of the tenant's policies, by position."""
        rows = (
            await self._session.execute(
                select(sla_policies)
                .where(sla_policies.c.tenant_id == tenant_id)
                .order_by(sla_policies.c.policy_id, sla_policies.c.version.desc())
            )
        ).all()
        latest: dict[str, Any] = {}
        for row in rows:
            latest.setdefault(row.policy_id, row)
        policies = [
            PolicyDocument.model_validate(row.document).to_policy(row.policy_id, row.version)
            for row in latest.values()
        ]
        return sorted(policies, key=lambda policy: (policy.position, policy.policy_id))

    async def version(self, tenant_id: str, policy_id: str, version: int) -> SlaPolicy | None:
        """One stored version of a policy, or None."""
        row = (
            await self._session.execute(
                select(sla_policies).where(
                    sla_policies.c.tenant_id == tenant_id,
                    sla_policies.c.policy_id == policy_id,
                    sla_policies.c.version == version,
                )
            )
        ).first()
        if row is None:
            return None
        return PolicyDocument.model_validate(row.document).to_policy(policy_id, version)

"""SLA clocks in the database, always addressed with their tenant."""

from dataclasses import asdict, fields
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_escalation.adapters.orm import sla_clocks
from helpline_escalation.domain.model import SlaClock

_COLUMNS = [field.name for field in fields(SlaClock)]
_KEY = ("tenant_id", "ticket_id", "metric")


def _clock(row: Any) -> SlaClock:
    return SlaClock(**{name: getattr(row, name) for name in _COLUMNS})


class SlaClockRepository:
    """Reads and writes SLA clocks; callers always pass the tenant."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, clock: SlaClock) -> None:
        """Insert a new clock."""
        await self._session.execute(insert(sla_clocks).values(**asdict(clock)))

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

    async def for_ticket(self, tenant_id: str, ticket_id: str, *, for_update: bool = False
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

    async def save(self, clock: SlaClock) -> None:
        """Write back a changed clock."""
        values = {name: getattr(clock, name) for name in _COLUMNS if name not in _KEY}
        await self._session.execute(
            update(sla_clocks)
            .where(sla_clocks.c.tenant_id == clock.tenant_id,
                   sla_clocks.c.ticket_id == clock.ticket_id,
                   sla_clocks.c.metric == clock.metric)
            .values(values)
        )

"""Preventive schedules in the database, always addressed with their tenant."""

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_escalation.adapters.orm import preventive_schedules as table
from helpline_escalation.domain.preventive import PreventiveSchedule, TicketTemplate


def _schedule(row: Any) -> PreventiveSchedule:
    template = dict(row.ticket)
    template["tags"] = tuple(template.get("tags", ()))
    return PreventiveSchedule(
        tenant_id=row.tenant_id,
        schedule_id=row.schedule_id,
        cron=row.cron,
        time_zone=row.time_zone,
        ticket=TicketTemplate(**template),
        version=row.version,
        paused_at=row.paused_at,
    )


class ScheduleRepository:
    """Reads and writes preventive schedules."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(
        self, tenant_id: str, schedule_id: str, *, for_update: bool = False
    ) -> PreventiveSchedule | None:
        """The schedule, or None."""
        query = select(table).where(
            table.c.tenant_id == tenant_id, table.c.schedule_id == schedule_id
        )
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        return _schedule(row) if row else None

    async def put(self, schedule: PreventiveSchedule, next_occurrence_at: datetime | None) -> None:
        """Insert or replace the schedule (its version says which timers are current)."""
        values = {
            "version": schedule.version,
            "cron": schedule.cron,
            "time_zone": schedule.time_zone,
            "ticket": {**asdict(schedule.ticket), "tags": list(schedule.ticket.tags)},
            "next_occurrence_at": next_occurrence_at,
            "paused_at": schedule.paused_at,
        }
        exists = await self.get(schedule.tenant_id, schedule.schedule_id, for_update=True)
        if exists is None:
            await self._session.execute(
                insert(table).values(
                    tenant_id=schedule.tenant_id, schedule_id=schedule.schedule_id, **values
                )
            )
        else:
            await self._session.execute(
                update(table)
                .where(
                    table.c.tenant_id == schedule.tenant_id,
                    table.c.schedule_id == schedule.schedule_id,
                )
                .values(**values)
            )

    async def record_occurrence(
        self,
        schedule: PreventiveSchedule,
        occurrence: datetime,
        ticket_id: str,
        next_occurrence_at: datetime,
    ) -> None:
        """Note the occurrence just opened and the next one."""
        await self._session.execute(
            update(table)
            .where(
                table.c.tenant_id == schedule.tenant_id,
                table.c.schedule_id == schedule.schedule_id,
            )
            .values(
                last_occurrence_at=occurrence,
                last_ticket_id=ticket_id or None,
                next_occurrence_at=next_occurrence_at,
            )
        )

    async def remove(self, tenant_id: str, schedule_id: str) -> bool:
        """Delete the schedule; False if the tenant had none by that id."""
        result = await self._session.execute(
            delete(table).where(table.c.tenant_id == tenant_id, table.c.schedule_id == schedule_id)
        )
        return bool(getattr(result, "rowcount", 0))

    async def all_of(self, tenant_id: str) -> list[dict[str, Any]]:
        """Every schedule of the tenant as stored, by id."""
        rows = await self._session.execute(
            select(table).where(table.c.tenant_id == tenant_id).order_by(table.c.schedule_id)
        )
        return [dict(row._mapping) for row in rows]

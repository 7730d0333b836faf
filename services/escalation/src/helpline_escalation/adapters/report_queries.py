"""Counts and ranked durations over ``sla_cycles`` for SLA reports, always for one tenant."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_escalation.adapters.orm import sla_cycles
from helpline_escalation.domain.reports import OutcomeCounts

_c = sla_cycles.c


def _within(column: ColumnElement[datetime], since: datetime, until: datetime
            ) -> ColumnElement[bool]:
    return and_(column > since, column <= until)


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


class SlaReportQueries:
    """What the SLA report reads: outcome counts and the n-th shortest time to meet."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def outcomes(self, tenant_id: str, metrics: Sequence[str], since: datetime,
                       until: datetime) -> dict[str, OutcomeCounts]:
        """Per metric: met and breached in ``(since, until]``, running now, stopped in it."""
        stopped = _within(_c.stopped_at, since, until)
        breached = _within(_c.breached_at, since, until)
        open_unbreached = and_(_c.stopped_at.is_(None), _c.breached_at.is_(None))
        query = (
            select(_c.metric,
                   _count(and_(stopped, _c.breached_at.is_(None))).label("met"),
                   _count(breached).label("breached"),
                   _count(open_unbreached).label("running"),
                   _count(stopped).label("completed"))
            .where(_c.tenant_id == tenant_id, _c.metric.in_(metrics),
                   or_(_c.stopped_at.is_(None), _c.stopped_at > since, _c.breached_at > since))
            .group_by(_c.metric))
        return {row.metric: OutcomeCounts(met=int(row.met), breached=int(row.breached),
                                          running=int(row.running),
                                          completed=int(row.completed))
                for row in await self._session.execute(query)}

    async def times_to_meet(self, tenant_id: str, metric: str, since: datetime, until: datetime,
                            *, offset: int, limit: int) -> list[float]:
        """Times to meet of cycles stopped in ``(since, until]``, shortest first, a slice."""
        query = (
            select(_c.active_seconds)
            .where(_c.tenant_id == tenant_id, _c.metric == metric,
                   _within(_c.stopped_at, since, until), _c.active_seconds.is_not(None))
            .order_by(_c.active_seconds).offset(offset).limit(limit))
        return [float(value) for value in (await self._session.execute(query)).scalars()]

"""Counts and ranked durations over ``sla_cycles`` for SLA reports, always for one tenant."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_escalation.adapters.orm import sla_cycles
from helpline_escalation.domain.reports import OutcomeCounts

_c = sla_cycles.c


def _within(
    column: ColumnElement[datetime], since: datetime, until: datetime
) -> ColumnElement[bool]:
    return and_(column > since, column <= until)


class SlaReportQueries:
    """What the SLA report reads: outcome counts and times to meet at given ranks."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _count_by_metric(
        self, tenant_id: str, metrics: Sequence[str], condition: ColumnElement[bool]
    ) -> dict[str, int]:
        query = (
            select(_c.metric, func.count())
            .where(_c.tenant_id == tenant_id, _c.metric.in_(metrics), condition)
            .group_by(_c.metric)
        )
        return {metric: int(count) for metric, count in await self._session.execute(query)}

    async def outcomes(
        self, tenant_id: str, metrics: Sequence[str], since: datetime, until: datetime
    ) -> dict[str, OutcomeCounts]:
        """Per metric: met and breached in ``(since, until]``, and running now."""
        # Three range scans of the covering indexes rather than one scan of the tenant.
        met = await self._count_by_metric(
            tenant_id, metrics, and_(_within(_c.stopped_at, since, until), _c.breached_at.is_(None))
        )
        breached = await self._count_by_metric(
            tenant_id, metrics, _within(_c.breached_at, since, until)
        )
        running = await self._count_by_metric(
            tenant_id, metrics, and_(_c.stopped_at.is_(None), _c.breached_at.is_(None))
        )
        return {
            metric: OutcomeCounts(
                met=met.get(metric, 0),
                breached=breached.get(metric, 0),
                running=running.get(metric, 0),
            )
            for metric in metrics
        }

    async def times_to_meet(
        self, tenant_id: str, metric: str, since: datetime, until: datetime, percents: Sequence[int]
    ) -> tuple[int, dict[int, float]]:
        """How many cycles stopped in the window, and the times to meet ``percents`` need."""
        ranked = (
            select(
                _c.active_seconds,
                (func.row_number().over(order_by=_c.active_seconds) - 1).label("rank"),
                func.count().over().label("total"),
            )
            .where(
                _c.tenant_id == tenant_id,
                _c.metric == metric,
                _within(_c.stopped_at, since, until),
                _c.active_seconds.is_not(None),
            )
            .subquery()
        )
        # One sort in the database; only the values at and after each percentile's rank
        # (domain.reports.percentile_rank) come back, with the count they were ranked in.
        ranks = [(ranked.c.total - 1) * percent // 100 for percent in percents]
        query = select(ranked.c.rank, ranked.c.active_seconds, ranked.c.total).where(
            or_(*(ranked.c.rank.between(rank, rank + 1) for rank in ranks))
        )
        rows = (await self._session.execute(query)).all()
        return (
            int(rows[0].total) if rows else 0,
            {int(row.rank): float(row.active_seconds) for row in rows},
        )

"""The SLA report of a tenant: each reported metric's attainment over the last ``days``."""

from datetime import datetime, timedelta

from helpline_escalation.domain.reports import (
    MEDIAN,
    P90,
    REPORTED_METRICS,
    MetricReport,
    OutcomeCounts,
    interpolate,
    percentile_position,
)
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared.events import SlaMetric


async def _percentile(uow: EscalationUnitOfWork, tenant_id: str, metric: str, since: datetime,
                      until: datetime, count: int, fraction: float) -> float | None:
    if count == 0:
        return None
    index, weight = percentile_position(count, fraction)
    # The database sorts; only the one or two values around the rank come back.
    neighbours = await uow.sla_reports.times_to_meet(tenant_id, metric, since, until,
                                                     offset=index, limit=2)
    return interpolate(neighbours, weight) if neighbours else None


async def sla_report(tenant_id: str, days: int, now: datetime, uow: EscalationUnitOfWork
                     ) -> dict[SlaMetric, MetricReport]:
    """Met, breached, running, median and p90 time to meet per metric, over ``days`` to ``now``."""
    since = now - timedelta(days=days)
    report: dict[SlaMetric, MetricReport] = {}
    async with uow.read_only():
        outcomes = await uow.sla_reports.outcomes(tenant_id, REPORTED_METRICS, since, now)
        for metric in REPORTED_METRICS:
            counts = outcomes.get(metric, OutcomeCounts())
            report[metric] = MetricReport(
                met=counts.met, breached=counts.breached, running=counts.running,
                median_seconds=await _percentile(uow, tenant_id, metric, since, now,
                                                 counts.completed, MEDIAN),
                p90_seconds=await _percentile(uow, tenant_id, metric, since, now,
                                              counts.completed, P90))
    return report

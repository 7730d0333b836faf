"""The SLA report of a tenant: each reported metric's attainment over the last ``days``."""

from datetime import datetime, timedelta

from helpline_escalation.domain.reports import (
    MEDIAN,
    P90,
    REPORTED_METRICS,
    MetricReport,
    percentile,
)
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared.events import SlaMetric


async def sla_report(
    tenant_id: str, days: int, now: datetime, uow: EscalationUnitOfWork
) -> dict[SlaMetric, MetricReport]:
    """Met, breached, running, median and p90 time to meet per metric, over ``days`` to ``now``."""
    since = now - timedelta(days=days)
    report: dict[SlaMetric, MetricReport] = {}
    async with uow.read_only():
        outcomes = await uow.sla_reports.outcomes(tenant_id, REPORTED_METRICS, since, now)
        for metric in REPORTED_METRICS:
            counts = outcomes[metric]
            stopped, times = await uow.sla_reports.times_to_meet(
                tenant_id, metric, since, now, (MEDIAN, P90)
            )
            report[metric] = MetricReport(
                met=counts.met,
                breached=counts.breached,
                running=counts.running,
                median_seconds=percentile(times, stopped, MEDIAN),
                p90_seconds=percentile(times, stopped, P90),
            )
    return report

"""Escalation's reports: SLA attainment of the tenant's tickets (permission reports.read)."""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from helpline_escalation.domain.reports import MAX_REPORT_DAYS, MetricReport
from helpline_escalation.service_layer import reports
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared.runtime.auth import Principal, require
from helpline_shared.runtime.db import utcnow

UnitOfWorkFactory = Callable[[], EscalationUnitOfWork]
Clock = Callable[[], datetime]
Reader = Annotated[Principal, require("reports.read")]
Days = Annotated[
    int, Query(ge=1, le=MAX_REPORT_DAYS, description="The window: the last `days` days up to now")
]


class SlaAttainmentOut(BaseModel):
    """One metric over the window: outcomes, attainment and the time to meet."""

    met: int = Field(description="Clocks stopped in the window before their deadline")
    breached: int = Field(
        description="Clocks whose deadline passed in the window, stopped since or not"
    )
    running: int = Field(description="Clocks open now (running or paused) and not breached")
    attainment: float | None = Field(description="met / (met + breached); null when both are 0")
    median_seconds: float | None = Field(
        description="Median time to meet: start to stop less the time paused, of the clocks "
        "stopped in the window (late ones included); null when none stopped"
    )
    p90_seconds: float | None = Field(description="90th percentile of the same times")


class SlaMetricsOut(BaseModel):
    """The reported metrics."""

    first_response: SlaAttainmentOut
    resolution: SlaAttainmentOut


_EXAMPLE: JsonDict = {
    "generated_at": "2026-11-30T12:00:00Z",
    "days": 7,
    "metrics": {
        "first_response": {
            "met": 180,
            "breached": 20,
            "running": 35,
            "attainment": 0.9,
            "median_seconds": 1820.0,
            "p90_seconds": 12600.0,
        },
        "resolution": {
            "met": 0,
            "breached": 0,
            "running": 41,
            "attainment": None,
            "median_seconds": None,
            "p90_seconds": None,
        },
    },
}


class SlaReportOut(BaseModel):
    """SLA attainment of the tenant's tickets over the last ``days`` days."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    generated_at: datetime
    days: int
    metrics: SlaMetricsOut


def _attainment(report: MetricReport) -> SlaAttainmentOut:
    return SlaAttainmentOut(
        met=report.met,
        breached=report.breached,
        running=report.running,
        attainment=report.attainment,
        median_seconds=report.median_seconds,
        p90_seconds=report.p90_seconds,
    )


def router(unit_of_work: UnitOfWorkFactory, now: Clock = utcnow) -> APIRouter:
    """The ``/v1/reports`` routes of escalation; ``now`` is the end of every window."""
    api = APIRouter(prefix="/v1/reports", tags=["reports"])

    @api.get("/sla", response_model=SlaReportOut)
    async def get_sla_report(principal: Reader, days: Days = 7) -> SlaReportOut:
        """First-response and resolution attainment, medians and p90 over the last ``days``."""
        generated_at = now()
        figures = await reports.sla_report(
            principal.tenant_id, days, generated_at, unit_of_work().read_only()
        )
        return SlaReportOut(
            generated_at=generated_at,
            days=days,
            metrics=SlaMetricsOut(
                first_response=_attainment(figures["first_response"]),
                resolution=_attainment(figures["resolution"]),
            ),
        )

    return api

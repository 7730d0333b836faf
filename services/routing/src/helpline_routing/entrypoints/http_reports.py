"""Routing's reports for leads: the agents' presence, load and capacity."""

from fastapi import APIRouter

from helpline_routing.entrypoints.schemas import AgentsReportOut
from helpline_routing.service_layer import reports
from helpline_routing.service_layer.unit_of_work import UnitOfWorkFactory
from helpline_shared.runtime.auth import Principal, require


def router(unit_of_work: UnitOfWorkFactory) -> APIRouter:
    """The ``/v1/reports`` routes on ``unit_of_work``."""
    api = APIRouter(prefix="/v1/reports", tags=["reports"])
    reader = require("reports.read")

    @api.get("/agents", response_model=AgentsReportOut)
    async def agents_report(principal: Principal = reader) -> AgentsReportOut:
        """Each agent's presence, open assignments, capacity, teams and last activity."""
        return AgentsReportOut.of(
            await reports.agents_report(principal.tenant_id, unit_of_work().read_only())
        )

    return api

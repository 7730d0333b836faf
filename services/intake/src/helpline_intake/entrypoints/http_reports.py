"""Intake's reports API: the tenant's backlog for leads."""

from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter

from helpline_intake.entrypoints.schemas import BacklogOut
from helpline_intake.service_layer import reports
from helpline_intake.service_layer.handlers import UnitOfWorkFactory
from helpline_shared.runtime.auth import Principal, require
from helpline_shared.runtime.db import utcnow


def router(unit_of_work: UnitOfWorkFactory, clock: Callable[[], datetime] = utcnow) -> APIRouter:
    """The ``/v1/reports`` routes of intake on ``unit_of_work``."""
    api = APIRouter(prefix="/v1/reports", tags=["reports"])
    reader = require("reports.read")

    @api.get("/backlog", response_model=BacklogOut)
    async def backlog(principal: Principal = reader) -> BacklogOut:
        """The tenant's open tickets now: unassigned, breached, at risk, per priority, status
        and team."""
        return BacklogOut.of(await reports.backlog(unit_of_work(), principal.tenant_id, clock()))

    return api

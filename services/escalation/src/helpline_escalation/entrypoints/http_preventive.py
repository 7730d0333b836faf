"""Preventive maintenance schedules over the API (permission sla.manage: admins)."""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from helpline_escalation.domain.errors import InvalidSchedule, ScheduleNotFound
from helpline_escalation.domain.preventive import PreventiveSchedule, TicketTemplate
from helpline_escalation.service_layer import preventive
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared.events import Priority
from helpline_shared.inputs import SafeEmailAddress, SafeLine, refuse_unsafe_text
from helpline_shared.runtime.auth import Principal, require
from helpline_shared.runtime.db import utcnow

UnitOfWorkFactory = Callable[[], EscalationUnitOfWork]
Admin = Annotated[Principal, require("sla.manage")]
ScheduleId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Tag = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.:-]*$")]


class TicketTemplateIn(BaseModel):
    """The ticket every occurrence opens."""

    model_config = ConfigDict(extra="forbid")

    subject: Annotated[SafeLine, Field(min_length=1, max_length=998)]
    description: Annotated[
        str, Field(min_length=1, max_length=50_000), AfterValidator(refuse_unsafe_text)
    ]
    requester_email: SafeEmailAddress
    requester_name: Annotated[SafeLine, Field(max_length=200)] | None = None
    priority: Priority = "normal"
    tags: list[Tag] = Field(default_factory=list, max_length=40)


class ScheduleIn(BaseModel):
    """A cron expression (5 fields, or 6 with seconds last) in an IANA zone, and the ticket."""

    model_config = ConfigDict(extra="forbid")

    cron: str = Field(min_length=9, max_length=255)
    time_zone: str = Field(default="UTC", max_length=64)
    ticket: TicketTemplateIn


class ScheduleOut(BaseModel):
    """A stored schedule version and its next occurrence (none while it is paused)."""

    schedule_id: str
    version: int
    next_occurrence_at: datetime | None
    paused: bool = False


def router(unit_of_work: UnitOfWorkFactory, minimum_interval: timedelta) -> APIRouter:
    """The ``/v1/preventive-schedules`` routes; schedules firing more often are refused."""
    api = APIRouter(prefix="/v1/preventive-schedules", tags=["preventive maintenance"])

    @api.put("/{schedule_id}", response_model=ScheduleOut)
    async def put_schedule(
        schedule_id: ScheduleId,
        body: ScheduleIn,
        principal: Admin,
    ) -> ScheduleOut:
        """Create or replace a schedule; occurrences from now on follow the new version.

        A paused schedule stays paused (its new version fires once it is resumed).
        """
        try:
            schedule = PreventiveSchedule(
                tenant_id=principal.tenant_id,
                schedule_id=schedule_id,
                cron=body.cron,
                time_zone=body.time_zone,
                ticket=TicketTemplate(
                    subject=body.ticket.subject,
                    description=body.ticket.description,
                    requester_email=body.ticket.requester_email,
                    requester_name=body.ticket.requester_name,
                    priority=body.ticket.priority,
                    tags=tuple(body.ticket.tags),
                ),
            )
            schedule.check_frequency(utcnow(), minimum_interval)
        except InvalidSchedule as error:
            raise HTTPException(422, f"cron or time_zone: {error}") from error
        stored, occurrence = await preventive.put_schedule(schedule, unit_of_work())
        return ScheduleOut(
            schedule_id=schedule_id,
            version=stored.version,
            next_occurrence_at=occurrence,
            paused=stored.paused_at is not None,
        )

    @api.post(
        "/{schedule_id}/pause",
        response_model=ScheduleOut,
        responses={404: {"description": "No such schedule"}},
    )
    async def pause_schedule(schedule_id: ScheduleId, principal: Admin) -> ScheduleOut:
        """Stop the schedule: nothing fires until it is resumed (pausing twice is harmless)."""
        try:
            stored = await preventive.pause_schedule(
                principal.tenant_id, schedule_id, unit_of_work()
            )
        except ScheduleNotFound as error:
            raise HTTPException(404, f"schedule_id: no schedule {schedule_id}") from error
        return ScheduleOut(
            schedule_id=schedule_id, version=stored.version, next_occurrence_at=None, paused=True
        )

    @api.post(
        "/{schedule_id}/resume",
        response_model=ScheduleOut,
        responses={404: {"description": "No such schedule"}},
    )
    async def resume_schedule(schedule_id: ScheduleId, principal: Admin) -> ScheduleOut:
        """Fire again from the next occurrence; occurrences missed while paused are skipped."""
        try:
            stored, occurrence = await preventive.resume_schedule(
                principal.tenant_id, schedule_id, unit_of_work()
            )
        except ScheduleNotFound as error:
            raise HTTPException(404, f"schedule_id: no schedule {schedule_id}") from error
        return ScheduleOut(
            schedule_id=schedule_id, version=stored.version, next_occurrence_at=occurrence
        )

    @api.delete(
        "/{schedule_id}", status_code=204, responses={404: {"description": "No such schedule"}}
    )
    async def delete_schedule(schedule_id: ScheduleId, principal: Admin) -> Response:
        """Delete the schedule and its pending occurrence; tickets it opened stay."""
        try:
            await preventive.delete_schedule(principal.tenant_id, schedule_id, unit_of_work())
        except ScheduleNotFound as error:
            raise HTTPException(404, f"schedule_id: no schedule {schedule_id}") from error
        return Response(status_code=204)

    @api.get("", response_model=list[dict[str, Any]])
    async def list_schedules(principal: Admin) -> list[dict[str, Any]]:
        """The tenant's schedules with their last and next occurrences."""
        async with unit_of_work().read_only() as uow:
            return await uow.schedules.all_of(principal.tenant_id)

    return api

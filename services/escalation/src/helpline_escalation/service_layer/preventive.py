"""Preventive maintenance: storing schedules, and opening each occurrence's ticket once."""

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from helpline_escalation.domain.errors import ScheduleNotFound
from helpline_escalation.domain.preventive import PreventiveSchedule, TicketOpener
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.timers import Timer

log = logging.getLogger(__name__)

OCCURRENCE_TIMER = "preventive.occurrence"


def _timer_prefix(tenant_id: str, schedule_id: str) -> str:
    return f"preventive:{tenant_id}:{schedule_id}:"


async def _schedule_timer(
    uow: EscalationUnitOfWork, schedule: PreventiveSchedule, occurrence: datetime
) -> None:
    await uow.timers.schedule(
        f"{_timer_prefix(schedule.tenant_id, schedule.schedule_id)}v{schedule.version}:"
        f"{occurrence.isoformat()}",
        kind=OCCURRENCE_TIMER,
        due_at=occurrence,
        payload={
            "tenant_id": schedule.tenant_id,
            "schedule_id": schedule.schedule_id,
            "version": schedule.version,
            "occurrence": occurrence.isoformat(),
        },
        traced=False,
    )  # each occurrence's ticket is a trace of its own


async def put_schedule(
    schedule: PreventiveSchedule, uow: EscalationUnitOfWork
) -> tuple[PreventiveSchedule, datetime | None]:
    """Store the schedule as a new version; its next occurrence is armed from now on.

    A paused schedule stays paused (nothing armed, no next occurrence) until it is resumed.
    """
    async with uow:
        # Timers first, then the schedule: the order the timer loop locks them in.
        await uow.timers.cancel_pending(_timer_prefix(schedule.tenant_id, schedule.schedule_id))
        existing = await uow.schedules.get(
            schedule.tenant_id, schedule.schedule_id, for_update=True
        )
        version = existing.version + 1 if existing else 1
        stored = PreventiveSchedule(
            tenant_id=schedule.tenant_id,
            schedule_id=schedule.schedule_id,
            cron=schedule.cron,
            time_zone=schedule.time_zone,
            ticket=schedule.ticket,
            version=version,
            paused_at=existing.paused_at if existing else None,
        )
        occurrence = None if stored.paused_at else stored.next_occurrence(utcnow())
        await uow.schedules.put(stored, occurrence)
        if occurrence is not None:
            await _schedule_timer(uow, stored, occurrence)
        await uow.commit()
    return stored, occurrence


async def pause_schedule(
    tenant_id: str, schedule_id: str, uow: EscalationUnitOfWork
) -> PreventiveSchedule:
    """Stop the schedule firing: its pending occurrence is removed (idempotent)."""
    async with uow:
        await uow.timers.cancel_pending(_timer_prefix(tenant_id, schedule_id))
        schedule = await uow.schedules.get(tenant_id, schedule_id, for_update=True)
        if schedule is None:
            raise ScheduleNotFound(schedule_id)
        if schedule.paused_at is None:
            schedule = replace(schedule, paused_at=utcnow())
            await uow.schedules.put(schedule, None)
        await uow.commit()
    return schedule


async def resume_schedule(
    tenant_id: str, schedule_id: str, uow: EscalationUnitOfWork
) -> tuple[PreventiveSchedule, datetime]:
    """Arm the next occurrence from now; those that fell in the pause are skipped, not opened."""
    async with uow:
        schedule = await uow.schedules.get(tenant_id, schedule_id, for_update=True)
        if schedule is None:
            raise ScheduleNotFound(schedule_id)
        schedule = replace(schedule, paused_at=None)
        occurrence = schedule.next_occurrence(utcnow())
        await uow.schedules.put(schedule, occurrence)
        await _schedule_timer(uow, schedule, occurrence)
        await uow.commit()
    return schedule, occurrence


async def delete_schedule(tenant_id: str, schedule_id: str, uow: EscalationUnitOfWork) -> None:
    """Remove the schedule and its pending occurrence; tickets it opened stay."""
    async with uow:
        await uow.timers.cancel_pending(_timer_prefix(tenant_id, schedule_id))
        if not await uow.schedules.remove(tenant_id, schedule_id):
            raise ScheduleNotFound(schedule_id)
        await uow.commit()


async def fire_occurrence(
    uow: EscalationUnitOfWork, timer: Timer, opener: TicketOpener, late_after: timedelta
) -> None:
    """Open the occurrence's ticket (idempotently) and arm the next occurrence."""
    payload = timer.payload
    schedule = await uow.schedules.get(
        str(payload["tenant_id"]), str(payload["schedule_id"]), for_update=True
    )
    if (
        schedule is None
        or schedule.version != int(payload["version"])
        or schedule.paused_at is not None
    ):
        return  # the schedule was changed, paused or removed since this occurrence was armed
    occurrence = datetime.fromisoformat(str(payload["occurrence"]))
    body = schedule.ticket_request(occurrence, now=utcnow(), late_after=late_after)
    ticket_id = await opener.open_ticket(
        schedule.tenant_id, body, schedule.idempotency_key(occurrence)
    )
    log.info(
        "preventive ticket opened",
        extra={
            "schedule_id": schedule.schedule_id,
            "ticket_id": ticket_id,
            "occurrence": occurrence.isoformat(),
            "late": "late-preventive" in body["tags"],
        },
    )
    # Every occurrence is opened, even those missed during downtime: the next one may be due.
    following = schedule.next_occurrence(occurrence)
    await uow.schedules.record_occurrence(schedule, occurrence, ticket_id, following)
    await _schedule_timer(uow, schedule, following)

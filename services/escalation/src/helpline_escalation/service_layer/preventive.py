"""Preventive maintenance: storing schedules, and opening each occurrence's ticket once."""

import logging
from datetime import datetime, timedelta

from helpline_escalation.domain.preventive import PreventiveSchedule, TicketOpener
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.timers import Timer

log = logging.getLogger(__name__)

OCCURRENCE_TIMER = "preventive.occurrence"


async def _schedule_timer(uow: EscalationUnitOfWork, schedule: PreventiveSchedule,
                          occurrence: datetime) -> None:
    await uow.timers.schedule(
        f"preventive:{schedule.tenant_id}:{schedule.schedule_id}:v{schedule.version}:"
        f"{occurrence.isoformat()}",
        kind=OCCURRENCE_TIMER, due_at=occurrence,
        payload={"tenant_id": schedule.tenant_id, "schedule_id": schedule.schedule_id,
                 "version": schedule.version, "occurrence": occurrence.isoformat()},
        traced=False)  # each occurrence's ticket is a trace of its own


async def put_schedule(schedule: PreventiveSchedule, uow: EscalationUnitOfWork
                       ) -> tuple[PreventiveSchedule, datetime]:
    """Store the schedule as a new version; its next occurrence is armed from now on."""
    async with uow:
        existing = await uow.schedules.get(schedule.tenant_id, schedule.schedule_id,
                                           for_update=True)
        version = existing.version + 1 if existing else 1
        stored = PreventiveSchedule(
            tenant_id=schedule.tenant_id, schedule_id=schedule.schedule_id, cron=schedule.cron,
            time_zone=schedule.time_zone, ticket=schedule.ticket, version=version)
        occurrence = stored.next_occurrence(utcnow())
        await uow.schedules.put(stored, occurrence)
        await _schedule_timer(uow, stored, occurrence)
        await uow.commit()
    return stored, occurrence


async def fire_occurrence(uow: EscalationUnitOfWork, timer: Timer, opener: TicketOpener,
                          late_after: timedelta) -> None:
    """Open the occurrence's ticket (idempotently) and arm the next occurrence."""
    payload = timer.payload
    schedule = await uow.schedules.get(str(payload["tenant_id"]), str(payload["schedule_id"]),
                                       for_update=True)
    if schedule is None or schedule.version != int(payload["version"]):
        return  # the schedule was changed or removed since this occurrence was armed
    occurrence = datetime.fromisoformat(str(payload["occurrence"]))
    body = schedule.ticket_request(occurrence, now=utcnow(), late_after=late_after)
    ticket_id = await opener.open_ticket(schedule.tenant_id, body,
                                         schedule.idempotency_key(occurrence))
    log.info("preventive ticket opened",
             extra={"schedule_id": schedule.schedule_id, "ticket_id": ticket_id,
                    "occurrence": occurrence.isoformat(),
                    "late": "late-preventive" in body["tags"]})
    # Every occurrence is opened, even those missed during downtime: the next one may be due.
    following = schedule.next_occurrence(occurrence)
    await uow.schedules.record_occurrence(schedule, occurrence, ticket_id, following)
    await _schedule_timer(uow, schedule, following)

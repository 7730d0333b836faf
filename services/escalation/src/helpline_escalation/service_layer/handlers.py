"""Escalation's use cases: SLA clocks follow ticket events, and breach timers fire at deadlines."""

import logging
from collections.abc import Mapping

from helpline_escalation.domain.errors import TicketNotTracked, UnknownTimerKind
from helpline_escalation.domain.model import (
    FIRST_RESPONSE,
    STOPPING_STATUSES,
    SlaClock,
    is_first_response,
)
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared.envelope import Envelope, derived_event_id
from helpline_shared.events import (
    MessageAdded,
    Priority,
    SlaMetric,
    TicketCreated,
    TicketStatusChanged,
)
from helpline_shared.runtime.timers import Timer

log = logging.getLogger(__name__)

CONSUMER = "escalation"
BREACH_TIMER = "sla.breach"


def _stop_reason(event: TicketCreated | MessageAdded | TicketStatusChanged) -> str | None:
    """Why ``event`` stops clocks, or None when it does not."""
    if isinstance(event, MessageAdded) and is_first_response(event):
        return "first public agent reply"
    if isinstance(event, TicketStatusChanged) and event.status in STOPPING_STATUSES:
        return f"ticket {event.status}"
    return None


async def on_ticket_event(
    envelope: Envelope, uow: EscalationUnitOfWork, first_response_targets: Mapping[Priority, int]
) -> None:
    """Start the clocks of a new ticket, or stop them when it is answered, solved or closed."""
    event = envelope.event
    if not isinstance(event, TicketCreated | MessageAdded | TicketStatusChanged):
        return
    stop_reason = _stop_reason(event)
    if not isinstance(event, TicketCreated) and stop_reason is None:
        return
    async with uow:
        if not await uow.claim_event(CONSUMER, envelope.id):
            return
        if isinstance(event, TicketCreated):
            await _start_first_response_clock(
                event, envelope.id, uow, first_response_targets[event.priority]
            )
        elif stop_reason is not None:
            metrics: set[SlaMetric] | None = (
                {FIRST_RESPONSE} if isinstance(event, MessageAdded) else None
            )
            await _stop_clocks(event, envelope.id, uow, reason=stop_reason, metrics=metrics)
        await uow.commit()


async def _start_first_response_clock(
    event: TicketCreated, cause_id: str, uow: EscalationUnitOfWork, target_seconds: int
) -> None:
    if await uow.clocks.get(event.tenant_id, event.ticket_id, FIRST_RESPONSE) is not None:
        log.info("first-response clock already exists", extra={"ticket_id": event.ticket_id})
        return
    clock, started = SlaClock.start_first_response(
        tenant_id=event.tenant_id, ticket_id=event.ticket_id, priority=event.priority,
        target_seconds=target_seconds, started_at=event.occurred_at,
    )
    await uow.clocks.add(clock)
    await _schedule_breach(clock, uow)
    uow.publish(started, event_id=derived_event_id(CONSUMER, cause_id, started.event_type))


async def _schedule_breach(clock: SlaClock, uow: EscalationUnitOfWork) -> None:
    await uow.timers.schedule(
        clock.breach_timer_id,
        kind=BREACH_TIMER,
        due_at=clock.deadline,
        payload={"tenant_id": clock.tenant_id, "ticket_id": clock.ticket_id,
                 "metric": clock.metric, "clock_version": clock.version},
    )


async def _stop_clocks(
    event: MessageAdded | TicketStatusChanged,
    cause_id: str,
    uow: EscalationUnitOfWork,
    *,
    reason: str,
    metrics: set[SlaMetric] | None,
) -> None:
    clocks = await uow.clocks.for_ticket(event.tenant_id, event.ticket_id, for_update=True)
    for clock in clocks:
        if metrics is not None and clock.metric not in metrics:
            continue
        stopped, stop_events = clock.stop(at=event.occurred_at, reason=reason)
        if not stop_events:
            continue
        # The version bump leaves the pending breach timer stale: it will fire as a no-op.
        await uow.clocks.save(stopped)
        for stop_event in stop_events:
            uow.publish(stop_event, event_id=derived_event_id(
                CONSUMER, cause_id, stop_event.event_type, clock.metric))


async def fire_breach_timer(uow: EscalationUnitOfWork, timer: Timer) -> None:
    """Breach the clock the timer was set for, unless it stopped or restarted since."""
    if timer.kind != BREACH_TIMER:
        raise UnknownTimerKind(timer.kind)
    payload = timer.payload
    clock = await uow.clocks.get(
        str(payload["tenant_id"]), str(payload["ticket_id"]), str(payload["metric"]),
        for_update=True,
    )
    if clock is None:
        log.warning("breach timer without its clock; ignored", extra={"timer_id": timer.id})
        return
    breached_clock, breached = clock.breach(timer_version=int(payload["clock_version"]))
    if breached is None:
        return
    await uow.clocks.save(breached_clock)
    uow.publish(breached, event_id=derived_event_id(timer.id))


async def ticket_sla(tenant_id: str, ticket_id: str, uow: EscalationUnitOfWork
                     ) -> list[SlaClock]:
    """Every SLA clock of the tenant's ticket; ``TicketNotTracked`` if it has none."""
    async with uow:
        clocks = await uow.clocks.for_ticket(tenant_id, ticket_id)
    if not clocks:
        raise TicketNotTracked(ticket_id)
    return clocks

"""Escalation's use cases: SLA clocks follow ticket events, and their timers fire on time.

The consumer applies ticket events through ``handler_table``; the runtime owns each transaction.
"""

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from functools import partial

from helpline_escalation.adapters.repository import Known
from helpline_escalation.domain.errors import TicketNotTracked, UnknownTimerKind
from helpline_escalation.domain.model import BREACH, SlaClock
from helpline_escalation.domain.policy import (
    SlaPolicy,
    TicketFacts,
    default_policy,
    moving_statuses,
    select_policy,
)
from helpline_escalation.domain.preventive import TicketOpener
from helpline_escalation.domain.rules import Change, changes_for, moves_no_clock
from helpline_escalation.service_layer import preventive
from helpline_escalation.service_layer.clock_store import (
    BREACH_TIMER,
    BUILT_IN_DEFAULT,
    CONSUMER,
    ESCALATION_TIMER,
    WARNING_TIMER,
    policy_of,
    rules_of,
    save,
)
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared.envelope import Envelope, derived_event_id
from helpline_shared.events import (
    Event,
    MessageAdded,
    Priority,
    TicketCreated,
    TicketStatusChanged,
    TicketUpdated,
)
from helpline_shared.runtime.consumer import HandlerTable, apply_alone
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.timers import Timer, TimerTable

log = logging.getLogger(__name__)

__all__ = [
    "BREACH_TIMER",
    "CONSUMER",
    "apply_ticket_event",
    "fire_breach_timer",
    "fire_timer",
    "handler_table",
    "on_ticket_event",
    "ticket_sla",
    "ticket_sla_report",
    "timer_table",
]

TicketEvent = TicketCreated | MessageAdded | TicketStatusChanged | TicketUpdated
TICKET_EVENTS = (TicketCreated, MessageAdded, TicketStatusChanged, TicketUpdated)


def _fallback(default: SlaPolicy | Mapping[Priority, int]) -> SlaPolicy:
    return default if isinstance(default, SlaPolicy) else default_policy(default)


def _facts(event: TicketCreated) -> TicketFacts:
    return TicketFacts(
        priority=event.priority,
        type=event.type,
        channel=event.channel,
        plan=event.plan,
        organization_id=event.organization_id,
    )


def handler_table(
    default: SlaPolicy | Mapping[Priority, int] = BUILT_IN_DEFAULT,
    unit_of_work: Callable[[], EscalationUnitOfWork] | None = None,
) -> HandlerTable[EscalationUnitOfWork]:
    """Escalation's consumer: the ticket events that move SLA clocks, and what applies them
    (with ``unit_of_work``, events that move none are acknowledged without a transaction)."""
    fallback = _fallback(default)
    fallback_moving = moving_statuses(fallback)  # once, not per event

    async def apply(uow: EscalationUnitOfWork, envelope: Envelope) -> None:
        await apply_ticket_event(uow, envelope, fallback, fallback_moving)

    return HandlerTable(
        CONSUMER,
        dict.fromkeys(TICKET_EVENTS, apply),
        unneeded=None if unit_of_work is None else _unneeded_check(unit_of_work, fallback),
    )


def _moves_nothing(event: Event) -> bool:
    """Whether ``event`` moves no clock whatever the ticket's policy and clocks."""
    if isinstance(event, MessageAdded):
        return event.auto_reply or not event.public  # an auto-reply or an internal note
    if isinstance(event, TicketUpdated):
        return "priority" not in event.changed_fields  # only the priority moves a target
    return not isinstance(event, TicketEvent)


async def _moves_no_clock(
    uow: EscalationUnitOfWork, event: TicketStatusChanged, fallback_moving: frozenset[str]
) -> bool:
    """``fallback_moving``: ``moving_statuses`` of the fallback policy."""
    moving = await uow.policies.moving_statuses(event.tenant_id)
    return moves_no_clock(event, moving | fallback_moving)


def _unneeded_check(
    unit_of_work: Callable[[], EscalationUnitOfWork], fallback: SlaPolicy
) -> Callable[[Sequence[Envelope]], Awaitable[set[str]]]:
    always_moving = moving_statuses(fallback)

    async def unneeded(envelopes: Sequence[Envelope]) -> set[str]:
        unwanted = {envelope.id for envelope in envelopes if _moves_nothing(envelope.event)}
        changes = [envelope for envelope in envelopes if envelope.id not in unwanted]
        # A batch with anything else is applied whole: its transaction reads the policies
        # anyway, and a status change that moves nothing costs it no statement of its own.
        # Only status changes, then: no ticket of theirs is admitted in this batch, so the
        # policy versions it may follow were all stored before this read.
        if not changes or not all(
            isinstance(e.event, TicketStatusChanged) and moves_no_clock(e.event, always_moving)
            for e in changes
        ):
            return unwanted  # (one the fallback policy moves a clock on is needed: no read)
        async with unit_of_work().read_only() as uow:
            for envelope in changes:
                event = envelope.event
                assert isinstance(event, TicketStatusChanged)
                if await _moves_no_clock(uow, event, always_moving):
                    unwanted.add(envelope.id)
        return unwanted

    return unneeded


async def apply_ticket_event(
    uow: EscalationUnitOfWork,
    envelope: Envelope,
    fallback: SlaPolicy,
    fallback_moving: frozenset[str] | None = None,
) -> None:
    """Start, pause, resume, restart or stop the ticket's clocks as its event says
    (``fallback_moving``: ``moving_statuses(fallback)``, if the caller computed it once)."""
    event = envelope.event
    if _moves_nothing(event):
        return
    if isinstance(event, TicketStatusChanged) and await _moves_no_clock(
        uow, event, moving_statuses(fallback) if fallback_moving is None else fallback_moving
    ):
        return  # not even the ticket's clocks are read (intake's new -> open, typically)
    assert isinstance(event, TicketEvent)
    if isinstance(event, TicketCreated):
        policy: SlaPolicy | None = await _admit(event, uow, fallback)
        facts: TicketFacts | None = _facts(event)
    else:
        known = await _tracked(uow, event.tenant_id, event.ticket_id)
        facts, policy = None, None
        if known is not None:
            facts, policy_id, version = known
            policy = await policy_of(uow, event.tenant_id, policy_id, version, fallback)
    if policy is not None and facts is not None:
        if isinstance(event, TicketUpdated):
            await _reprioritise(event, envelope.id, uow, policy, fallback)
        else:
            await _apply_changes(event, envelope.id, uow, policy, facts)


async def _tracked(uow: EscalationUnitOfWork, tenant_id: str, ticket_id: str) -> Known | None:
    """The ticket's facts and policy; its clocks are locked (and kept) by the same statement."""
    known = uow.tickets.already_read(tenant_id, ticket_id)
    if known is not None:
        return known
    known = await uow.clocks.locked_with_ticket(tenant_id, ticket_id)
    if known is None:
        return await uow.tickets.get(tenant_id, ticket_id)
    uow.tickets.remember(tenant_id, ticket_id, known)
    return known


async def on_ticket_event(
    envelope: Envelope, uow: EscalationUnitOfWork, default: SlaPolicy | Mapping[Priority, int]
) -> None:
    """Apply one ticket event in a transaction of its own, as the consumer would (tests, tools)."""
    await apply_alone(handler_table(default), uow, envelope)


async def _admit(
    event: TicketCreated, uow: EscalationUnitOfWork, fallback: SlaPolicy
) -> SlaPolicy | None:
    facts = _facts(event)
    policy = select_policy(await uow.policies.current(event.tenant_id), facts, fallback)
    if not await uow.tickets.add(event.tenant_id, event.ticket_id, facts, policy):
        log.info("ticket already tracked", extra={"ticket_id": event.ticket_id})
        return None
    # Clocks only start once their ticket is tracked: a ticket admitted just now has none.
    uow.clocks.none_yet(event.tenant_id, event.ticket_id)
    return policy


async def _apply_changes(
    event: TicketCreated | MessageAdded | TicketStatusChanged,
    cause: str,
    uow: EscalationUnitOfWork,
    policy: SlaPolicy,
    facts: TicketFacts,
) -> None:
    clocks = {
        clock.metric: clock
        for clock in await uow.clocks.for_ticket(event.tenant_id, event.ticket_id, for_update=True)
    }
    for change in changes_for(event, policy, {m: c.state for m, c in clocks.items()}):
        clock = await _apply(change, clocks.get(change.metric), event, cause, uow, policy, facts)
        if clock is not None:
            clocks[change.metric] = clock


async def _apply(
    change: Change,
    clock: SlaClock | None,
    event: TicketCreated | MessageAdded | TicketStatusChanged,
    cause: str,
    uow: EscalationUnitOfWork,
    policy: SlaPolicy,
    facts: TicketFacts,
) -> SlaClock | None:
    at, calendar = event.occurred_at, policy.calendar
    if change.action in ("start", "restart"):
        rules = policy.metric(change.metric)
        target = rules.target_for(facts.priority) if rules else None
        if rules is None or target is None or (change.action == "start" and clock is not None):
            return None
        stop_events: list[Event] = []
        if clock is not None:
            clock, stop_events = clock.stop(at=at, reason=change.reason, calendar=calendar)
            if stop_events:  # the new cycle replaces this one in its row: keep its outcome
                await uow.clocks.record_cycle(clock)
        started, started_event = SlaClock.start(
            tenant_id=event.tenant_id,
            ticket_id=event.ticket_id,
            policy=policy,
            rules=rules,
            target_seconds=target,
            at=at,
            reason=change.reason,
            priority=facts.priority,
            cycle=clock.cycle + 1 if clock else 1,
            version=clock.version + 1 if clock else 1,
            history=clock.history if clock else (),
        )
        await save(uow, started, policy, [*stop_events, started_event], cause, new=clock is None)
        return started
    if clock is None:
        return None
    if change.action == "pause":
        changed, events = clock.pause(at=at, reason=change.reason, calendar=calendar)
    elif change.action == "resume":
        changed, events = clock.resume(at=at, reason=change.reason, calendar=calendar)
    else:
        changed, events = clock.stop(at=at, reason=change.reason, calendar=calendar)
    if events:
        await save(uow, changed, policy, events, cause)
    return changed


async def _reprioritise(
    event: TicketUpdated,
    cause: str,
    uow: EscalationUnitOfWork,
    policy: SlaPolicy,
    fallback: SlaPolicy,
) -> None:
    if "priority" not in event.changed_fields:
        return
    await uow.tickets.set_priority(event.tenant_id, event.ticket_id, event.priority)
    for clock in await uow.clocks.for_ticket(event.tenant_id, event.ticket_id, for_update=True):
        clock_policy = await policy_of(
            uow, clock.tenant_id, clock.policy_id, clock.policy_version, fallback
        )
        target = rules_of(clock_policy, clock).target_for(event.priority)
        if not clock.open or target is None or target == clock.target_seconds:
            continue
        moved, events = clock.recompute(
            at=event.occurred_at,
            policy=clock_policy,
            target_seconds=target,
            reason=f"priority changed to {event.priority}",
        )
        await save(uow, moved, clock_policy, events, cause)


async def fire_timer(
    uow: EscalationUnitOfWork, timer: Timer, default: SlaPolicy = BUILT_IN_DEFAULT
) -> None:
    """Breach, warn or escalate the clock the timer was set for, unless it changed since."""
    if not timer.kind.startswith("sla."):
        raise UnknownTimerKind(timer.kind)
    payload = timer.payload
    clock = await uow.clocks.get(
        str(payload["tenant_id"]),
        str(payload["ticket_id"]),
        str(payload["metric"]),
        for_update=True,
    )
    if clock is None:
        log.warning("SLA timer without its clock; ignored", extra={"timer_id": timer.id})
        return
    purpose = str(payload.get("purpose", BREACH))
    policy = await policy_of(uow, clock.tenant_id, clock.policy_id, clock.policy_version, default)
    fired, event = clock.fire(
        purpose=purpose,
        timer_version=int(payload["clock_version"]),
        rules=rules_of(policy, clock),
        calendar=policy.calendar,
        at=timer.due_at,
    )
    if event is None:
        return
    await uow.clocks.save(fired)
    uow.publish(event, event_id=derived_event_id(*clock.event_id_parts(purpose)))


fire_breach_timer = fire_timer
"""The name the first version of the timer callback had."""


def timer_table(
    default: SlaPolicy, opener: TicketOpener, late_after: timedelta
) -> TimerTable[EscalationUnitOfWork]:
    """Escalation's timer loop: SLA breaches, warnings and escalations; preventive occurrences."""
    fire_sla = partial(fire_timer, default=default)
    return TimerTable(
        {
            **dict.fromkeys((BREACH_TIMER, WARNING_TIMER, ESCALATION_TIMER), fire_sla),
            preventive.OCCURRENCE_TIMER: partial(
                preventive.fire_occurrence, opener=opener, late_after=late_after
            ),
        }
    )


async def ticket_sla(tenant_id: str, ticket_id: str, uow: EscalationUnitOfWork) -> list[SlaClock]:
    """Every SLA clock of the tenant's ticket; ``TicketNotTracked`` if it has none."""
    async with uow.read_only():
        clocks = await uow.clocks.for_ticket(tenant_id, ticket_id)
    if not clocks:
        raise TicketNotTracked(ticket_id)
    return clocks


async def ticket_sla_report(
    tenant_id: str, ticket_id: str, uow: EscalationUnitOfWork, default: SlaPolicy = BUILT_IN_DEFAULT
) -> list[tuple[SlaClock, float]]:
    """Each clock of the ticket with the business time it has counted so far."""
    async with uow.read_only():
        clocks = await uow.clocks.for_ticket(tenant_id, ticket_id)
        report = []
        for clock in clocks:
            policy = await policy_of(uow, tenant_id, clock.policy_id, clock.policy_version, default)
            at = clock.stopped_at or utcnow()
            report.append((clock, clock.elapsed_at(at, policy.calendar)))
    if not report:
        raise TicketNotTracked(ticket_id)
    return report

"""Saving a changed clock: its row, its timers and its events, in the caller's unit of work."""

from collections.abc import Sequence

from helpline_escalation.domain.model import BREACH, SlaClock
from helpline_escalation.domain.policy import (
    DEFAULT_FIRST_RESPONSE_TARGETS,
    DEFAULT_POLICY_ID,
    MetricPolicy,
    SlaPolicy,
    default_policy,
)
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared.envelope import derived_event_id
from helpline_shared.events import Event

CONSUMER = "escalation"
BREACH_TIMER = "sla.breach"
WARNING_TIMER = "sla.warning"
ESCALATION_TIMER = "sla.escalation"
BUILT_IN_DEFAULT = default_policy(DEFAULT_FIRST_RESPONSE_TARGETS)


def timer_kind(purpose: str) -> str:
    """The timer kind of ``purpose`` (a metrics label): breach, warning or escalation."""
    if purpose == BREACH:
        return BREACH_TIMER
    return WARNING_TIMER if purpose.startswith("warning-") else ESCALATION_TIMER


async def policy_of(
    uow: EscalationUnitOfWork, tenant_id: str, policy_id: str, version: int, fallback: SlaPolicy
) -> SlaPolicy:
    """The stored version of a policy; the default policy is not stored but configured."""
    if policy_id == DEFAULT_POLICY_ID and fallback.policy_id == DEFAULT_POLICY_ID:
        return fallback
    return await uow.policies.version(tenant_id, policy_id, version) or fallback


def rules_of(policy: SlaPolicy, clock: SlaClock) -> MetricPolicy:
    """The policy's rules for the clock's metric (targets only if it no longer has any)."""
    return policy.metric(clock.metric) or MetricPolicy(clock.metric, {})


async def schedule(uow: EscalationUnitOfWork, clock: SlaClock, policy: SlaPolicy) -> None:
    """Schedule the timers this version of the clock needs."""
    for due in clock.due(rules_of(policy, clock), policy.calendar):
        uow.timers.schedule_at_commit(
            clock.timer_id(due.purpose),
            kind=timer_kind(due.purpose),
            due_at=due.at,
            payload={
                "tenant_id": clock.tenant_id,
                "ticket_id": clock.ticket_id,
                "metric": clock.metric,
                "clock_version": clock.version,
                "purpose": due.purpose,
            },
        )


async def save(
    uow: EscalationUnitOfWork,
    clock: SlaClock,
    policy: SlaPolicy,
    events: Sequence[Event],
    cause: str,
    *,
    new: bool = False,
) -> None:
    """Write the clock, schedule its timers, publish its events with ids derived from ``cause``."""
    if new:
        await uow.clocks.add(clock)
    else:
        await uow.clocks.save(clock)
    await schedule(uow, clock, policy)
    for event in events:
        uow.publish(
            event,
            event_id=derived_event_id(
                CONSUMER, cause, event.event_type, clock.metric, str(clock.version)
            ),
        )

"""SLA policies: which tickets they cover, each metric's targets, warnings and escalation chain."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from helpline_escalation.domain.calendar import BusinessCalendar
from helpline_shared.events import Priority, SlaMetric, TicketStatus

DEFAULT_FIRST_RESPONSE_TARGETS: Mapping[Priority, int] = {
    "urgent": 60 * 60,
    "high": 4 * 60 * 60,
    "normal": 8 * 60 * 60,
    "low": 24 * 60 * 60,
}
"""Seconds to a first public agent reply, by priority, in the built-in default policy."""
MAX_TARGET_SECONDS = 10 * 365 * 24 * 60 * 60
"""The longest target or offset a policy may state: ten years of business time (any deadline
stays within the calendar's ``HORIZON``)."""

PAUSE_STATUSES: frozenset[TicketStatus] = frozenset({"pending", "on_hold"})
"""Statuses that pause a clock by default: the ticket waits for the customer or a third party."""
STOP_STATUSES: frozenset[TicketStatus] = frozenset({"solved", "closed"})
"""Statuses that stop a clock by default."""
DEFAULT_POLICY_ID = "default"


@dataclass(frozen=True)
class WarningLead:
    """A warning before the deadline: when ``seconds_left`` or a ``fraction_left`` remains."""

    seconds_left: int | None = None
    fraction_left: float | None = None

    def lead_seconds(self, target_seconds: int) -> float:
        """Business seconds before the deadline at which this warning fires."""
        if self.seconds_left is not None:
            return float(self.seconds_left)
        return (self.fraction_left or 0.0) * target_seconds

    def describe(self) -> str:
        """How the lead reads in a reason."""
        if self.seconds_left is not None:
            return f"{describe_duration(self.seconds_left)} left"
        return f"{round((self.fraction_left or 0.0) * 100)}% left"


@dataclass(frozen=True)
class EscalationLevel:
    """One step of an escalation chain, ``offset_seconds`` of business time from the deadline."""

    level: int
    offset_seconds: int = 0
    notify: tuple[str, ...] = ()
    raise_priority_to: Priority | None = None
    widen_to_team: str | None = None


@dataclass(frozen=True)
class MetricPolicy:
    """Targets by priority (business seconds) and what happens around the deadline."""

    metric: SlaMetric
    targets: Mapping[Priority, int]
    warnings: tuple[WarningLead, ...] = ()
    escalations: tuple[EscalationLevel, ...] = ()
    pause_statuses: frozenset[TicketStatus] = PAUSE_STATUSES
    stop_statuses: frozenset[TicketStatus] = STOP_STATUSES

    def target_for(self, priority: Priority) -> int | None:
        """The target for ``priority``, or None when this metric does not apply to it."""
        return self.targets.get(priority)

    def level(self, number: int) -> EscalationLevel | None:
        """The escalation level numbered ``number``."""
        return next((level for level in self.escalations if level.level == number), None)


@dataclass(frozen=True)
class TicketFacts:
    """What a policy's conditions look at."""

    priority: Priority
    type: str
    channel: str
    plan: str | None = None
    organization_id: str | None = None


@dataclass(frozen=True)
class PolicyConditions:
    """Which tickets a policy covers; an empty set means any value."""

    plans: frozenset[str] = frozenset()
    priorities: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    organizations: frozenset[str] = frozenset()

    def match(self, facts: TicketFacts) -> bool:
        """True when ``facts`` meet every condition."""
        checks: list[tuple[frozenset[str], str | None]] = [
            (self.plans, facts.plan),
            (self.priorities, facts.priority),
            (self.types, facts.type),
            (self.channels, facts.channel),
            (self.organizations, facts.organization_id),
        ]
        return all(not allowed or value in allowed for allowed, value in checks)


@dataclass(frozen=True)
class SlaPolicy:
    """A versioned, ordered SLA policy of a tenant; the first matching one applies."""

    policy_id: str
    name: str
    version: int
    position: int
    calendar: BusinessCalendar
    metrics: Mapping[SlaMetric, MetricPolicy]
    conditions: PolicyConditions = field(default_factory=PolicyConditions)

    def metric(self, metric: SlaMetric) -> MetricPolicy | None:
        """This policy's rules for ``metric``, or None if it does not track it."""
        return self.metrics.get(metric)


def default_policy(first_response_targets: Mapping[Priority, int]) -> SlaPolicy:
    """The policy of a tenant that has none: first response only, around the clock."""
    return SlaPolicy(
        policy_id=DEFAULT_POLICY_ID,
        name="Default",
        version=1,
        position=0,
        calendar=BusinessCalendar.around_the_clock(),
        metrics={"first_response": MetricPolicy("first_response", dict(first_response_targets))},
    )


def moving_statuses(policy: SlaPolicy) -> frozenset[TicketStatus]:
    """The statuses in which one of ``policy``'s clocks pauses or stops."""
    return frozenset(
        status
        for rules in policy.metrics.values()
        for status in rules.pause_statuses | rules.stop_statuses
    )


def select_policy(
    policies: Sequence[SlaPolicy], facts: TicketFacts, fallback: SlaPolicy
) -> SlaPolicy:
    """The first policy by position whose conditions ``facts`` meet, else ``fallback``."""
    for policy in sorted(policies, key=lambda candidate: candidate.position):
        if policy.conditions.match(facts):
            return policy
    return fallback


def describe_duration(seconds: float) -> str:
    """Write a duration compactly, largest units first: ``4h``, ``1d2h``, ``90s`` -> ``1m30s``."""
    if seconds <= 0:
        return "0s"
    parts = []
    remaining = round(seconds)
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"

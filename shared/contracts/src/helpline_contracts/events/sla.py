"""SLA clock events, published by escalation on ``helpline.sla``."""

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from helpline_contracts import topics
from helpline_contracts.events.base import (
    Event,
    Priority,
    SlaMetric,
)

__all__ = [
    "SlaBreached",
    "SlaClockPaused",
    "SlaClockResumed",
    "SlaClockStarted",
    "SlaClockStopped",
    "SlaDeadlineRecomputed",
    "SlaEscalated",
    "SlaWarning",
]

METRIC = "The SLA metric: `first_response`, `next_response`, `periodic_update` or `resolution`."
DEADLINE = "When the metric is due, in business time on the policy's calendar (UTC)."
EXAMPLE_DEADLINE = "2026-03-02T13:15:00Z"
CLOCK_VERSION = (
    "The clock's version, raised by every change: a consumer keeps the highest it "
    "has seen per ticket and metric."
)
POLICY_ID = "The tenant's SLA policy the clock follows (`default`: the built-in one)."
POLICY_VERSION = "The version of that policy."
CALENDAR = "The name of the business calendar the deadline was computed on."


class SlaClockStarted(Event):
    """An SLA clock started running for a metric of a ticket.

    Published by escalation when a ticket is created (`first_response`, `resolution`), at a
    public agent reply (`periodic_update`), at an unanswered customer message (`next_response`),
    and when a solved or closed ticket reopens (`resolution`, a new cycle).
    """

    event_type: ClassVar[str] = "helpline.sla.clock_started.v1"
    topic: ClassVar[str] = topics.SLA

    metric: SlaMetric = Field(examples=["first_response"], description=METRIC)
    target_seconds: int = Field(
        ge=0, examples=[14400], description="The target, in seconds of business time."
    )
    started_at: datetime = Field(
        examples=["2026-03-02T09:15:00Z"], description="When the clock started."
    )
    deadline: datetime = Field(examples=[EXAMPLE_DEADLINE], description=DEADLINE)
    clock_version: int = Field(ge=1, examples=[1], description=CLOCK_VERSION)
    reason: str = Field(
        examples=[
            "first response target for high priority: 4 h on calendar 24/7 (policy "
            "default v1); ticket created"
        ],
        description="The target, its calendar and policy, and what started the clock.",
    )


class SlaClockStopped(Event):
    """An SLA clock stopped: its metric was met (or missed, if ``breached``).

    Published by escalation when the metric is fulfilled (a public agent reply for first and next
    response) or the ticket reaches a stop status of the policy (e.g. `solved`, `closed`).
    """

    event_type: ClassVar[str] = "helpline.sla.clock_stopped.v1"
    topic: ClassVar[str] = topics.SLA

    metric: SlaMetric = Field(examples=["first_response"], description=METRIC)
    deadline: datetime = Field(examples=[EXAMPLE_DEADLINE], description=DEADLINE)
    stopped_at: datetime = Field(
        examples=["2026-03-02T10:02:00Z"], description="When the clock stopped."
    )
    breached: bool = Field(
        examples=[False], description="True when the deadline had passed before the stop."
    )
    clock_version: int = Field(ge=1, examples=[2], description=CLOCK_VERSION)
    reason: str = Field(examples=["first public agent reply"], description="What stopped it.")


class SlaBreached(Event):
    """An SLA deadline passed while its clock was still running.

    Published by escalation once per clock cycle, when the deadline timer fires on a running
    clock; `occurred_at` is the deadline itself, however late the timer fired.
    """

    event_type: ClassVar[str] = "helpline.sla.breached.v1"
    topic: ClassVar[str] = topics.SLA

    metric: SlaMetric = Field(examples=["first_response"], description=METRIC)
    deadline: datetime = Field(examples=[EXAMPLE_DEADLINE], description=DEADLINE)
    clock_version: int = Field(ge=1, examples=[1], description=CLOCK_VERSION)
    reason: str = Field(
        examples=["no first response within 4 h of business time on calendar 24/7"],
        description="Which target was missed, on which calendar.",
    )
    policy_id: str | None = Field(default=None, examples=["default"], description=POLICY_ID)
    policy_version: int | None = Field(default=None, examples=[1], description=POLICY_VERSION)
    calendar: str | None = Field(default=None, examples=["24/7"], description=CALENDAR)


class SlaEscalated(Event):
    """A level of the tenant's escalation chain fired for a metric of a ticket.

    Published by escalation when a level's moment (an offset before or after the deadline) comes
    while the clock runs. Routing acts on ``raise_priority_to`` and ``widen_to_team``; notify
    tells the ``notify`` roles.
    """

    event_type: ClassVar[str] = "helpline.sla.escalated.v1"
    topic: ClassVar[str] = topics.SLA

    metric: SlaMetric = Field(examples=["resolution"], description=METRIC)
    level: int = Field(ge=1, examples=[1], description="The level of the chain that fired, from 1.")
    deadline: datetime = Field(examples=[EXAMPLE_DEADLINE], description=DEADLINE)
    notify: tuple[str, ...] = Field(
        default=(),
        examples=[["assignee", "team_lead"]],
        description="Roles to tell: `assignee`, `team_lead`, `manager`.",
    )
    raise_priority_to: Priority | None = Field(
        default=None,
        examples=["urgent"],
        description="The priority routing raises the ticket to, if the level says so.",
    )
    widen_to_team: str | None = Field(
        default=None,
        examples=["support-l2"],
        description="A team routing adds to those that may take the ticket, if any.",
    )
    clock_version: int = Field(ge=1, examples=[1], description=CLOCK_VERSION)
    reason: str = Field(
        examples=["escalation level 1: 30 min after the resolution deadline"],
        description="Which level fired, and when relative to the deadline.",
    )
    policy_id: str | None = Field(default=None, examples=["default"], description=POLICY_ID)
    policy_version: int | None = Field(default=None, examples=[1], description=POLICY_VERSION)
    calendar: str | None = Field(default=None, examples=["24/7"], description=CALENDAR)


class SlaWarning(Event):
    """An SLA deadline is near: a configured lead time before it was reached.

    Published by escalation when one of the policy's warning lead times before the deadline is
    reached on a running clock that has not breached (each warning once per cycle).
    """

    event_type: ClassVar[str] = "helpline.sla.warning.v1"
    topic: ClassVar[str] = topics.SLA

    metric: SlaMetric = Field(examples=["first_response"], description=METRIC)
    deadline: datetime = Field(examples=[EXAMPLE_DEADLINE], description=DEADLINE)
    seconds_left: int = Field(
        ge=0,
        examples=[1800],
        description="Business time left to the deadline when the warning fired.",
    )
    clock_version: int = Field(ge=1, examples=[1], description=CLOCK_VERSION)
    policy_id: str = Field(examples=["default"], description=POLICY_ID)
    policy_version: int = Field(ge=1, examples=[1], description=POLICY_VERSION)
    calendar: str = Field(examples=["24/7"], description=CALENDAR)
    reason: str = Field(
        examples=["30 min to the first response deadline"],
        description="Which lead time was reached.",
    )


class SlaClockPaused(Event):
    """An SLA clock stopped counting for a while (e.g. the ticket waits for the customer).

    Published by escalation when the ticket enters a pause status of the policy (e.g.
    `pending`, `on_hold`) while the clock runs.
    """

    event_type: ClassVar[str] = "helpline.sla.clock_paused.v1"
    topic: ClassVar[str] = topics.SLA

    metric: SlaMetric = Field(examples=["resolution"], description=METRIC)
    elapsed_seconds: float = Field(
        ge=0, examples=[5400.0], description="Business time counted so far in this cycle."
    )
    clock_version: int = Field(ge=1, examples=[2], description=CLOCK_VERSION)
    reason: str = Field(examples=["ticket pending"], description="What paused it.")


class SlaClockResumed(Event):
    """A paused SLA clock counts again, towards a moved deadline.

    Published by escalation when the customer replies publicly or the ticket leaves the pause
    status; the new deadline is the business time still left, counted from the resumption.
    """

    event_type: ClassVar[str] = "helpline.sla.clock_resumed.v1"
    topic: ClassVar[str] = topics.SLA

    metric: SlaMetric = Field(examples=["resolution"], description=METRIC)
    deadline: datetime = Field(
        examples=["2026-03-03T11:15:00Z"], description="The new deadline, after the pause."
    )
    paused_seconds: float = Field(
        ge=0,
        examples=[7200.0],
        description="Seconds (wall clock) the clock has been paused in "
        "this cycle, all pauses together.",
    )
    clock_version: int = Field(ge=1, examples=[3], description=CLOCK_VERSION)
    reason: str = Field(examples=["the customer replied"], description="What resumed it.")


class SlaDeadlineRecomputed(Event):
    """A clock's deadline was recomputed (policy, calendar or priority change): what moved, why.

    Published by escalation when a ticket's priority change gives an open clock another target,
    and when a new policy version is stored with `recompute` and moves the open clocks onto it.
    """

    event_type: ClassVar[str] = "helpline.sla.deadline_recomputed.v1"
    topic: ClassVar[str] = topics.SLA

    metric: SlaMetric = Field(examples=["resolution"], description=METRIC)
    previous_deadline: datetime = Field(
        examples=["2026-03-03T09:15:00Z"], description="The deadline before the change."
    )
    deadline: datetime = Field(examples=[EXAMPLE_DEADLINE], description="The new deadline.")
    previous_target_seconds: int = Field(
        ge=0, examples=[86400], description="The target before, in business seconds."
    )
    target_seconds: int = Field(
        ge=0, examples=[14400], description="The new target, in business seconds."
    )
    policy_id: str = Field(examples=["default"], description=POLICY_ID)
    policy_version: int = Field(ge=1, examples=[2], description=POLICY_VERSION)
    calendar: str = Field(examples=["24/7"], description=CALENDAR)
    clock_version: int = Field(ge=1, examples=[3], description=CLOCK_VERSION)
    reason: str = Field(
        examples=["priority changed to urgent"], description="What caused the recomputation."
    )

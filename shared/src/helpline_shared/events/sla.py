"""SLA clock events, published by escalation on ``helpline.sla``."""

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from helpline_shared import topics
from helpline_shared.events.base import (
    Event,
    Priority,
    SlaMetric,
)

__all__ = [
    "SlaBreached", "SlaClockPaused", "SlaClockResumed", "SlaClockStarted", "SlaClockStopped",
    "SlaDeadlineRecomputed", "SlaEscalated", "SlaWarning",
]


class SlaClockStarted(Event):
    """An SLA clock started running for a metric of a ticket."""

    event_type: ClassVar[str] = "helpline.sla.clock_started.v1"
    topic: ClassVar[str] = topics.SLA

    metric: SlaMetric
    target_seconds: int = Field(ge=0)
    started_at: datetime
    deadline: datetime
    clock_version: int = Field(ge=1)
    reason: str


class SlaClockStopped(Event):
    """An SLA clock stopped: its metric was met (or missed, if ``breached``)."""

    event_type: ClassVar[str] = "helpline.sla.clock_stopped.v1"
    topic: ClassVar[str] = topics.SLA

    metric: SlaMetric
    deadline: datetime
    stopped_at: datetime
    breached: bool
    clock_version: int = Field(ge=1)
    reason: str


class SlaBreached(Event):
    """An SLA deadline passed while its clock was still running."""

    event_type: ClassVar[str] = "helpline.sla.breached.v1"
    topic: ClassVar[str] = topics.SLA

    metric: SlaMetric
    deadline: datetime
    clock_version: int = Field(ge=1)
    reason: str
    policy_id: str | None = None
    policy_version: int | None = None
    calendar: str | None = None
    """The name of the business calendar the deadline was computed on."""


class SlaEscalated(Event):
    """A level of the tenant's escalation chain fired for a metric of a ticket.

    Routing acts on ``raise_priority_to`` and ``widen_to_team``; notify tells the ``notify`` roles.
    """

    event_type: ClassVar[str] = "helpline.sla.escalated.v1"
    topic: ClassVar[str] = topics.SLA

    metric: SlaMetric
    level: int = Field(ge=1)
    deadline: datetime
    notify: tuple[str, ...] = ()
    """Roles to tell: ``assignee``, ``team_lead``, ``manager``."""
    raise_priority_to: Priority | None = None
    widen_to_team: str | None = None
    clock_version: int = Field(ge=1)
    reason: str
    policy_id: str | None = None
    policy_version: int | None = None
    calendar: str | None = None


class SlaWarning(Event):
    """An SLA deadline is near: a configured lead time before it was reached."""

    event_type: ClassVar[str] = "helpline.sla.warning.v1"
    topic: ClassVar[str] = topics.SLA

    metric: SlaMetric
    deadline: datetime
    seconds_left: int = Field(ge=0)
    """Business time left to the deadline when the warning fired."""
    clock_version: int = Field(ge=1)
    policy_id: str
    policy_version: int = Field(ge=1)
    calendar: str
    reason: str


class SlaClockPaused(Event):
    """An SLA clock stopped counting for a while (e.g. the ticket waits for the customer)."""

    event_type: ClassVar[str] = "helpline.sla.clock_paused.v1"
    topic: ClassVar[str] = topics.SLA

    metric: SlaMetric
    elapsed_seconds: float = Field(ge=0)
    """Business time counted so far in this cycle."""
    clock_version: int = Field(ge=1)
    reason: str


class SlaClockResumed(Event):
    """A paused SLA clock counts again, towards a moved deadline."""

    event_type: ClassVar[str] = "helpline.sla.clock_resumed.v1"
    topic: ClassVar[str] = topics.SLA

    metric: SlaMetric
    deadline: datetime
    paused_seconds: float = Field(ge=0)
    clock_version: int = Field(ge=1)
    reason: str


class SlaDeadlineRecomputed(Event):
    """A clock's deadline was recomputed (policy, calendar or priority change): what moved, why."""

    event_type: ClassVar[str] = "helpline.sla.deadline_recomputed.v1"
    topic: ClassVar[str] = topics.SLA

    metric: SlaMetric
    previous_deadline: datetime
    deadline: datetime
    previous_target_seconds: int = Field(ge=0)
    target_seconds: int = Field(ge=0)
    policy_id: str
    policy_version: int = Field(ge=1)
    calendar: str
    clock_version: int = Field(ge=1)
    reason: str

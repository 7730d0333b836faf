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

__all__ = ["SlaBreached", "SlaClockStarted", "SlaClockStopped", "SlaEscalated"]


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

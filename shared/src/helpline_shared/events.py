"""Every event Helpline publishes: one pydantic model per event type, versioned in its name.

Compatible evolution only adds optional fields; anything else is a new type (``...v2``) published
alongside the old one. ``tests/contract`` fails on an incompatible change to a committed schema.
"""

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from helpline_shared import topics

Priority = Literal["low", "normal", "high", "urgent"]
TicketType = Literal["corrective", "adaptive", "perfective", "preventive", "question"]
TicketStatus = Literal["new", "open", "pending", "on_hold", "solved", "closed"]
Channel = Literal["api", "email"]
AuthorRole = Literal["requester", "agent", "system"]
SlaMetric = Literal["first_response", "next_response", "periodic_update", "resolution"]
NotificationChannel = Literal["email", "webhook"]
EmailAddress = Annotated[
    str, Field(min_length=3, max_length=320, pattern=r"^[^@\s<>]+@[^@\s<>]+$")
]
"""An addr-spec (RFC 5322), checked loosely: reserved domains such as ``.test`` are allowed."""


class Event(BaseModel):
    """Base of every event: the tenant and the ticket it is about, and when it happened."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    topic: ClassVar[str]

    tenant_id: str = Field(min_length=1, max_length=64)
    ticket_id: str = Field(min_length=1, max_length=64)
    occurred_at: datetime


class Requester(BaseModel):
    """The customer who asked."""

    model_config = ConfigDict(frozen=True)

    email: EmailAddress
    name: str | None = None


class TicketCreated(Event):
    """A ticket was opened, through the API or by email."""

    event_type: ClassVar[str] = "helpline.ticket.created.v1"
    topic: ClassVar[str] = topics.TICKETS

    subject: str = Field(max_length=998)
    description: str
    requester: Requester
    priority: Priority
    type: TicketType
    tags: tuple[str, ...] = ()
    channel: Channel
    status: TicketStatus = "new"


class MessageAdded(Event):
    """A public reply or an internal note was added to a ticket."""

    event_type: ClassVar[str] = "helpline.ticket.message_added.v1"
    topic: ClassVar[str] = topics.TICKETS

    message_id: str
    author_role: AuthorRole
    author_id: str | None = None
    public: bool
    channel: Channel
    body: str
    auto_reply: bool = False


class TicketStatusChanged(Event):
    """A ticket moved from one status to another."""

    event_type: ClassVar[str] = "helpline.ticket.status_changed.v1"
    topic: ClassVar[str] = topics.TICKETS

    previous_status: TicketStatus
    status: TicketStatus


class TicketAssigned(Event):
    """Routing assigned a ticket to an agent, and says why."""

    event_type: ClassVar[str] = "helpline.ticket.assigned.v1"
    topic: ClassVar[str] = topics.ROUTING

    agent_id: str
    agent_name: str
    agent_email: EmailAddress
    channel: Channel
    required_skills: tuple[str, ...] = ()
    candidates_considered: int = Field(ge=0)
    reason: str


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


class NotificationDelivered(Event):
    """An email or webhook triggered by an event was accepted by its destination."""

    event_type: ClassVar[str] = "helpline.notification.delivered.v1"
    topic: ClassVar[str] = topics.NOTIFICATIONS

    notification_id: str
    channel: NotificationChannel
    trigger_event_id: str
    trigger_event_type: str
    attempt: int = Field(ge=1)
    outbound_message_id: str | None = None
    """For email: the Message-ID we sent, so intake can thread replies to it."""


class NotificationFailed(Event):
    """An email or webhook attempt failed; ``will_retry`` says whether another attempt follows."""

    event_type: ClassVar[str] = "helpline.notification.failed.v1"
    topic: ClassVar[str] = topics.NOTIFICATIONS

    notification_id: str
    channel: NotificationChannel
    trigger_event_id: str
    trigger_event_type: str
    attempt: int = Field(ge=1)
    error: str
    will_retry: bool


EVENT_TYPES: dict[str, type[Event]] = {
    model.event_type: model
    for model in (
        TicketCreated,
        MessageAdded,
        TicketStatusChanged,
        TicketAssigned,
        SlaClockStarted,
        SlaClockStopped,
        SlaBreached,
        NotificationDelivered,
        NotificationFailed,
    )
}
"""Every event model by its CloudEvents ``type``."""

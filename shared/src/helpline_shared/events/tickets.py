"""Ticket lifecycle events, published by intake on ``helpline.tickets``."""

from typing import ClassVar

from pydantic import Field

from helpline_shared import topics
from helpline_shared.events.base import (
    AuthorRole,
    Channel,
    Event,
    Priority,
    Requester,
    TicketStatus,
    TicketType,
)

__all__ = ["MessageAdded", "TicketCreated", "TicketStatusChanged"]


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

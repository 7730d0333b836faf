"""Ticket lifecycle events, published by intake on ``helpline.tickets``."""

from typing import ClassVar

from pydantic import Field

from helpline_shared import topics
from helpline_shared.events.base import (
    AuthorRole,
    Channel,
    EmailAddress,
    Event,
    Priority,
    Requester,
    TicketStatus,
    TicketType,
)

__all__ = [
    "EmailBounced", "EmailQuarantined", "MessageAdded", "TicketCreated", "TicketMerged",
    "TicketStatusChanged", "TicketUpdated",
]


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
    organization_id: str | None = None
    plan: str | None = None
    """The customer's support plan (e.g. ``basic``, ``premium``), for SLA policies and routing."""
    language: str | None = None
    mailbox: str | None = None
    """The address of the tenant's mailbox the ticket came in through (email channel)."""


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
    """True for an auto-reply (out-of-office, ...): never counts as the customer's answer."""
    email_message_id: str | None = None
    """The RFC 5322 Message-ID of the mail that carried this message, if any."""


class TicketStatusChanged(Event):
    """A ticket moved from one status to another."""

    event_type: ClassVar[str] = "helpline.ticket.status_changed.v1"
    topic: ClassVar[str] = topics.TICKETS

    previous_status: TicketStatus
    status: TicketStatus


class TicketUpdated(Event):
    """A ticket's priority, type or tags changed (status changes have their own event)."""

    event_type: ClassVar[str] = "helpline.ticket.updated.v1"
    topic: ClassVar[str] = topics.TICKETS

    changed_fields: tuple[str, ...]
    priority: Priority
    type: TicketType
    tags: tuple[str, ...] = ()


class EmailBounced(Event):
    """A delivery status notification said mail to ``address`` failed (or is delayed).

    ``ticket_id`` is the ticket the bounced mail belonged to, or, when no ticket could be linked,
    the id of the bounce message itself.
    """

    event_type: ClassVar[str] = "helpline.email.bounced.v1"
    topic: ClassVar[str] = topics.TICKETS

    address: EmailAddress
    permanent: bool
    status: str | None = None
    """The DSN status code, e.g. ``5.1.1``."""
    original_message_id: str | None = None
    linked: bool
    diagnostic: str | None = None


class TicketMerged(Event):
    """A duplicate ticket (``ticket_id``) was merged into ``into_ticket_id`` and closed."""

    event_type: ClassVar[str] = "helpline.ticket.merged.v1"
    topic: ClassVar[str] = topics.TICKETS

    into_ticket_id: str


class EmailQuarantined(Event):
    """An inbound mail could not become a ticket or message; it is kept raw with the reason.

    ``ticket_id`` is the id of the quarantined inbound message (no ticket exists for it).
    """

    event_type: ClassVar[str] = "helpline.email.quarantined.v1"
    topic: ClassVar[str] = topics.TICKETS

    mailbox: str
    reason: str

"""Ticket lifecycle events, published by intake on ``helpline.tickets``."""

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from helpline_contracts import topics
from helpline_contracts.events.base import (
    EXAMPLE_TICKET_ID,
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
    "EmailBounced",
    "EmailQuarantined",
    "MessageAdded",
    "MessageAttachment",
    "TicketCreated",
    "TicketMerged",
    "TicketStatusChanged",
    "TicketUpdated",
]

CHANNEL = "How the ticket or message came in: `api` (the REST API) or `email`."
PRIORITY = "The ticket's priority: `low`, `normal`, `high` or `urgent`."
TICKET_TYPE = (
    "What kind of request: `corrective`, `adaptive`, `perfective`, `preventive` or `question`."
)
TAGS = "The ticket's tags, sorted and without duplicates."


class TicketCreated(Event):
    """A ticket was opened, through the API or by email.

    Published by intake once per ticket, when `POST /v1/tickets` succeeds (a retry with the same
    `Idempotency-Key` publishes nothing new), when a mail to a tenant's mailbox answers no ticket,
    and when escalation opens a preventive ticket from a schedule. The first mail's text is the
    `description`: no `MessageAdded` is published for it.
    """

    event_type: ClassVar[str] = "helpline.ticket.created.v1"
    topic: ClassVar[str] = topics.TICKETS

    subject: str = Field(
        max_length=998,
        examples=["Export to CSV fails since 4.2"],
        description="The ticket's subject line (for mail: without the token).",
    )
    description: str = Field(
        examples=["Since the update to 4.2 every CSV export stops at 1000 rows."],
        description="The request's text: the API body, or the plain text of the first mail.",
    )
    requester: Requester = Field(
        examples=[{"email": "cy@example.org", "name": "Cy Customer"}],
        description="The customer who asked (replies go to them).",
    )
    priority: Priority = Field(examples=["high"], description=PRIORITY)
    type: TicketType = Field(examples=["corrective"], description=TICKET_TYPE)
    tags: tuple[str, ...] = Field(default=(), examples=[["exports", "billing"]], description=TAGS)
    channel: Channel = Field(examples=["api"], description=CHANNEL)
    status: TicketStatus = Field(
        default="new",
        examples=["new"],
        description="The status a ticket is opened in: always `new`.",
    )
    organization_id: str | None = Field(
        default=None,
        examples=["org-42"],
        description="The requester's organisation in the tenant's directory, when known.",
    )
    plan: str | None = Field(
        default=None,
        examples=["premium"],
        description="The customer's support plan (e.g. `basic`, `premium`), for SLA policies "
        "and routing.",
    )
    language: str | None = Field(
        default=None,
        examples=["de"],
        description="The customer's language tag, from the tenant's directory or the mail.",
    )
    mailbox: str | None = Field(
        default=None,
        examples=["support@acme.example"],
        description="The address of the tenant's mailbox the ticket came in through (email "
        "channel).",
    )


class MessageAttachment(BaseModel):
    """A file attached to a message: what it is, not its bytes (intake serves them at
    `GET /v1/tickets/{ticket_id}/messages/{message_id}/attachments/{id}`)."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(
        max_length=64,
        examples=["a3c1e5f7-2b4d-4f60-8e1a-9c7b5d3f1e20"],
        description="The attachment's id within its message.",
    )
    filename: str = Field(
        max_length=255, examples=["export.log"], description="The file's name as it was attached."
    )
    content_type: str = Field(
        max_length=255, examples=["text/plain"], description="The file's media type."
    )
    size: int = Field(ge=0, examples=[2048], description="The file's size in bytes.")


class MessageAdded(Event):
    """A public reply or an internal note was added to a ticket.

    Published by intake when `POST /v1/tickets/{id}/messages` adds a reply or note, when a mail
    answers an open ticket (the customer's reply), when a bounce is noted on its ticket, and when
    a merge notes the duplicate on the ticket it was merged into.
    """

    event_type: ClassVar[str] = "helpline.ticket.message_added.v1"
    topic: ClassVar[str] = topics.TICKETS

    message_id: str = Field(
        examples=["0b8f3c1e-7a4d-4e2b-9f60-5c1d2e3f4a5b"],
        description="The message's id, unique per ticket system.",
    )
    author_role: AuthorRole = Field(
        examples=["agent"],
        description="Who wrote it: the `requester`, an `agent`, or Helpline itself (`system`).",
    )
    author_id: str | None = Field(
        default=None, examples=["agent-7"], description="The agent's id when an agent wrote it."
    )
    public: bool = Field(
        examples=[True],
        description="True for a reply the customer sees; false for an internal note.",
    )
    channel: Channel = Field(examples=["email"], description=CHANNEL)
    body: str = Field(
        examples=["Could you send us the export log?"], description="The message's plain text."
    )
    auto_reply: bool = Field(
        default=False,
        examples=[False],
        description="True for an auto-reply (out-of-office, ...): never counts as the "
        "customer's answer.",
    )
    email_message_id: str | None = Field(
        default=None,
        examples=["<CAF=3x9@mail.example.org>"],
        description="The RFC 5322 Message-ID of the mail that carried this message, if any.",
    )
    attachments: tuple[MessageAttachment, ...] = Field(
        default=(),
        examples=[
            [
                {
                    "id": "a3c1e5f7-2b4d-4f60-8e1a-9c7b5d3f1e20",
                    "filename": "export.log",
                    "content_type": "text/plain",
                    "size": 2048,
                }
            ]
        ],
        description="The files attached to the message (a public reply is mailed with them).",
    )


class TicketStatusChanged(Event):
    """A ticket moved from one status to another.

    Published by intake when `PATCH /v1/tickets/{id}` sets a new status, when routing's
    assignment makes a `new` ticket `open`, when the customer's reply reopens a `pending` or
    `solved` ticket, and when a merge closes the duplicate.
    """

    event_type: ClassVar[str] = "helpline.ticket.status_changed.v1"
    topic: ClassVar[str] = topics.TICKETS

    previous_status: TicketStatus = Field(
        examples=["open"], description="The status before the change."
    )
    status: TicketStatus = Field(
        examples=["pending"],
        description="The new status: `new`, `open`, `pending`, `on_hold`, `solved` or `closed`.",
    )


class TicketUpdated(Event):
    """A ticket's priority, type or tags changed (status changes have their own event).

    Published by intake when `PATCH /v1/tickets/{id}` changes at least one of them; the event
    carries all three as they are now.
    """

    event_type: ClassVar[str] = "helpline.ticket.updated.v1"
    topic: ClassVar[str] = topics.TICKETS

    changed_fields: tuple[str, ...] = Field(
        examples=[["priority"]], description="Which of `priority`, `type` and `tags` changed."
    )
    priority: Priority = Field(examples=["urgent"], description="The priority after the change.")
    type: TicketType = Field(examples=["corrective"], description="The type after the change.")
    tags: tuple[str, ...] = Field(
        default=(), examples=[["exports"]], description="The tags after the change, sorted."
    )


class EmailBounced(Event):
    """A delivery status notification said mail to ``address`` failed (or is delayed).

    Published by intake for each failed recipient of a bounce (DSN) that arrives in a tenant's
    mailbox. ``ticket_id`` is the ticket the bounced mail belonged to, or, when no ticket could be
    linked, the id of the bounce message itself.
    """

    event_type: ClassVar[str] = "helpline.email.bounced.v1"
    topic: ClassVar[str] = topics.TICKETS

    address: EmailAddress = Field(
        examples=["cy@example.org"], description="The recipient the mail could not reach."
    )
    permanent: bool = Field(
        examples=[True],
        description="True for a permanent failure (5.x.x): notify stops mailing the address.",
    )
    status: str | None = Field(
        default=None, examples=["5.1.1"], description="The DSN status code, e.g. `5.1.1`."
    )
    original_message_id: str | None = Field(
        default=None,
        examples=["<helpline-3f2a@acme.example>"],
        description="The Message-ID of the mail that bounced, when the report names it.",
    )
    linked: bool = Field(
        examples=[True],
        description="True when the bounce was linked to a ticket (then `ticket_id` is that "
        "ticket).",
    )
    diagnostic: str | None = Field(
        default=None,
        examples=["550 5.1.1 <cy@example.org>: user unknown"],
        description="The receiving server's diagnostic text, when given.",
    )


class TicketMerged(Event):
    """A duplicate ticket (``ticket_id``) was merged into ``into_ticket_id`` and closed.

    Published by intake when `POST /v1/tickets/{id}/merge` merges a duplicate; mail to the
    duplicate lands on the target from then on.
    """

    event_type: ClassVar[str] = "helpline.ticket.merged.v1"
    topic: ClassVar[str] = topics.TICKETS

    into_ticket_id: str = Field(
        examples=[EXAMPLE_TICKET_ID], description="The ticket the duplicate was merged into."
    )


class EmailQuarantined(Event):
    """An inbound mail could not become a ticket or message; it is kept raw with the reason.

    Published by intake when a mail to a tenant's mailbox is refused (no sender, an auto-reply
    answering no ticket, unparseable, ...); an operator can replay it. ``ticket_id`` is the id of
    the quarantined inbound message (no ticket exists for it).
    """

    event_type: ClassVar[str] = "helpline.email.quarantined.v1"
    topic: ClassVar[str] = topics.TICKETS

    mailbox: str = Field(
        examples=["support@acme.example"], description="The tenant's mailbox the mail arrived in."
    )
    reason: str = Field(
        examples=["no sender address (From) to open a ticket for"],
        description="Why the mail was quarantined.",
    )

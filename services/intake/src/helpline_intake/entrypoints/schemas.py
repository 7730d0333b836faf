"""The HTTP API's request and response bodies (what the OpenAPI document shows)."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from helpline_intake.domain.model import Message, Ticket
from helpline_intake.service_layer.reports import Backlog
from helpline_shared.events import AuthorRole, Priority, Requester, TicketStatus, TicketType
from helpline_shared.inputs import SafeEmailAddress, SafeLine, SafeName, refuse_unsafe_line

Address = Annotated[SafeEmailAddress, Field(pattern=r"^[^@\s<>]+@[^@\s<>]+$")]
"""An email address as intake takes it: no control or bidirectional character, no brackets."""
Tag = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.:-]*$")]
Tags = Annotated[list[Tag], Field(max_length=50)]
MAX_ATTACHMENTS = 10


class TicketRequester(BaseModel):
    """Who asks: an address replies can reach and an optional display name."""

    model_config = ConfigDict(extra="forbid")

    email: Address
    name: SafeName | None = None

    def requester(self) -> Requester:
        """The event contract's requester."""
        return Requester(email=self.email, name=self.name)


class TicketIn(BaseModel):
    """A new ticket."""

    model_config = ConfigDict(extra="forbid")

    # The subject becomes the Subject header of notify's mails: one line, no controls.
    subject: SafeLine = Field(min_length=1, max_length=998)
    description: str = Field(min_length=1, max_length=100_000)
    requester: TicketRequester
    priority: Priority = "normal"
    type: TicketType = "question"
    tags: Tags = Field(default_factory=list)


class TicketPatch(BaseModel):
    """A change to a ticket: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    status: TicketStatus | None = None
    priority: Priority | None = None
    type: TicketType | None = None
    tags: Tags | None = None


class MergeIn(BaseModel):
    """Merge this ticket (a duplicate) into another."""

    model_config = ConfigDict(extra="forbid")

    into_ticket_id: str = Field(min_length=1, max_length=64)


class AttachmentIn(BaseModel):
    """A file attached to a message, base64-encoded."""

    model_config = ConfigDict(extra="forbid")

    filename: Annotated[str, AfterValidator(refuse_unsafe_line)] = Field(
        min_length=1, max_length=255, pattern=r"^[^/\\\x00-\x1f]+$"
    )
    content_type: str = Field(
        default="application/octet-stream", max_length=255, pattern=r"^[\w.+-]+/[\w.+-]+$"
    )
    content_base64: str = Field(min_length=1, max_length=14_000_000)


class MessageIn(BaseModel):
    """A reply or note."""

    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=100_000)
    public: bool = Field(default=True, description="False for an internal note agents only see")
    author_role: AuthorRole | None = Field(
        default=None,
        description="Only for an import (permission `tickets.import`, audited): "
        "otherwise the author is the credential's own and setting "
        "this is refused (422)",
    )
    author_id: SafeLine | None = Field(
        default=None, max_length=64, description="Only for an import, like `author_role`"
    )
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class AttachmentOut(BaseModel):
    """A stored file's metadata; download it from ``url``."""

    id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    inline: bool
    url: str


class TicketOut(BaseModel):
    """A ticket as the API shows it."""

    id: str
    subject: str
    description: str
    requester: Requester
    priority: Priority
    type: TicketType
    tags: list[str]
    channel: str
    status: TicketStatus
    assignee: str | None
    sla: dict[str, dict[str, Any]] = Field(
        description=(
            "Per SLA metric as escalation reports it: `state` (`running`, `paused`, `met`, "
            "`breached`), `deadline` (null while paused), `clock_version`, and when they apply "
            "`paused_at`, `paused_seconds`, `breached`, `escalation_level`."
        )
    )
    organization_id: str | None
    mailbox: str | None
    merged_into_id: str | None
    created_at: datetime
    updated_at: datetime
    team: str | None = Field(
        default=None,
        examples=["billing"],
        description="The team routing's rules classified the ticket to (null: none, or not yet).",
    )
    next_deadline: datetime | None = Field(
        default=None,
        examples=["2026-03-02T10:15:00Z"],
        description="The earliest deadline of a running SLA clock (null when no clock runs).",
    )

    @classmethod
    def of(cls, ticket: Ticket) -> "TicketOut":
        """Present ``ticket``."""
        return cls(
            id=ticket.id,
            subject=ticket.subject,
            description=ticket.description,
            requester=Requester(email=ticket.requester_email, name=ticket.requester_name),
            priority=ticket.priority,
            type=ticket.type,
            tags=ticket.tags,
            channel=ticket.channel,
            status=ticket.status,
            assignee=ticket.assignee_id,
            sla=ticket.sla,
            organization_id=ticket.organization_id,
            mailbox=ticket.mailbox,
            merged_into_id=ticket.merged_into_id,
            created_at=ticket.created_at,
            updated_at=ticket.updated_at,
            team=ticket.team,
            next_deadline=ticket.next_deadline,
        )


class TicketPage(BaseModel):
    """One page of tickets and the cursor of the next, if any."""

    items: list[TicketOut]
    next_cursor: str | None


class MessageOut(BaseModel):
    """A message as the API shows it."""

    id: str
    ticket_id: str
    author_role: AuthorRole
    author_id: str | None
    public: bool
    channel: str
    body: str
    html: str | None
    auto_reply: bool
    email_message_id: str | None
    attachments: list[AttachmentOut]
    created_at: datetime

    @classmethod
    def of(cls, message: Message) -> "MessageOut":
        """Present ``message``."""
        base = f"/v1/tickets/{message.ticket_id}/messages/{message.id}/attachments"
        return cls(
            id=message.id,
            ticket_id=message.ticket_id,
            author_role=message.author_role,
            author_id=message.author_id,
            public=message.public,
            channel=message.channel,
            body=message.body,
            html=message.html,
            auto_reply=message.auto_reply,
            email_message_id=message.email_message_id,
            attachments=[
                AttachmentOut(
                    id=item["id"],
                    filename=item["filename"],
                    content_type=item["content_type"],
                    size=item["size"],
                    sha256=item["sha256"],
                    inline=bool(item.get("inline")),
                    url=f"{base}/{item['id']}",
                )
                for item in message.attachments
            ],
            created_at=message.created_at,
        )


PRIORITY_COUNTS = "Open tickets per priority (every priority, zero included)."


class TeamBacklogOut(BaseModel):
    """The open tickets of one team."""

    team: str | None = Field(
        examples=["billing"],
        description=(
            "The team routing's rules classified the tickets to; null for tickets of no team."
        ),
    )
    open: int = Field(ge=0, examples=[12], description="Open tickets of the team.")
    by_priority: dict[Priority, int] = Field(
        examples=[{"urgent": 1, "high": 2, "normal": 8, "low": 1}], description=PRIORITY_COUNTS
    )


class BacklogOut(BaseModel):
    """The tenant's backlog now: open means neither `solved` nor `closed`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "generated_at": "2026-03-02T09:30:00Z",
                    "open": 41,
                    "unassigned": 6,
                    "breached": 3,
                    "at_risk": 4,
                    "by_priority": {"urgent": 2, "high": 5, "normal": 30, "low": 4},
                    "by_status": {
                        "new": 6,
                        "open": 25,
                        "pending": 8,
                        "on_hold": 2,
                        "solved": 110,
                        "closed": 950,
                    },
                    "by_team": [
                        {
                            "team": "billing",
                            "open": 12,
                            "by_priority": {"urgent": 1, "high": 2, "normal": 8, "low": 1},
                        },
                        {
                            "team": None,
                            "open": 29,
                            "by_priority": {"urgent": 1, "high": 3, "normal": 22, "low": 3},
                        },
                    ],
                }
            ]
        }
    )

    generated_at: datetime = Field(description="The instant the figures were counted at.")
    open: int = Field(ge=0, description="Tickets neither solved nor closed.")
    unassigned: int = Field(ge=0, description="Open tickets without an assignee.")
    breached: int = Field(ge=0, description="Open tickets with an SLA clock that breached.")
    at_risk: int = Field(
        ge=0,
        description=(
            "Open tickets with a running SLA clock due within the next hour (or overdue and "
            "not yet reported breached)."
        ),
    )
    by_priority: dict[Priority, int] = Field(description=PRIORITY_COUNTS)
    by_status: dict[TicketStatus, int] = Field(
        description=(
            "All the tenant's tickets per status (every status, zero included; solved and closed "
            "too)."
        )
    )
    by_team: list[TeamBacklogOut] = Field(
        description=(
            "Open tickets per team, named teams alphabetically, then those of no team; a team "
            "without open tickets is absent."
        )
    )

    @classmethod
    def of(cls, backlog: Backlog) -> "BacklogOut":
        """Present ``backlog``."""
        return cls.model_validate(
            {
                "generated_at": backlog.generated_at,
                "open": backlog.open,
                "unassigned": backlog.unassigned,
                "breached": backlog.breached,
                "at_risk": backlog.at_risk,
                "by_priority": backlog.by_priority,
                "by_status": backlog.by_status,
                "by_team": [
                    {"team": item.team, "open": item.open, "by_priority": item.by_priority}
                    for item in backlog.by_team
                ],
            }
        )

"""Intake's ticket API: parse, call one handler, map the result or the error."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from helpline_intake.adapters.repository import decode_cursor, encode_cursor
from helpline_intake.domain.errors import TicketNotFound
from helpline_intake.domain.model import Message, Ticket
from helpline_intake.service_layer import handlers
from helpline_intake.service_layer.handlers import UnitOfWorkFactory
from helpline_shared.events import AuthorRole, Priority, Requester, TicketStatus, TicketType
from helpline_shared.runtime.auth import Principal, require_scope
from helpline_shared.runtime.problems import not_found

Tag = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.:-]*$")]


class TicketIn(BaseModel):
    """A new ticket."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=998)
    description: str = Field(min_length=1, max_length=100_000)
    requester: Requester
    priority: Priority = "normal"
    type: TicketType = "question"
    tags: list[Tag] = Field(default_factory=list, max_length=50)


class MessageIn(BaseModel):
    """A reply or note."""

    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=100_000)
    public: bool = True
    author_role: AuthorRole = "agent"
    author_id: str | None = Field(default=None, max_length=64)


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
    sla: dict[str, dict[str, Any]]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, ticket: Ticket) -> "TicketOut":
        """Present ``ticket``."""
        return cls(
            id=ticket.id, subject=ticket.subject, description=ticket.description,
            requester=Requester(email=ticket.requester_email, name=ticket.requester_name),
            priority=ticket.priority, type=ticket.type, tags=ticket.tags,
            channel=ticket.channel, status=ticket.status, assignee=ticket.assignee_id,
            sla=ticket.sla, created_at=ticket.created_at, updated_at=ticket.updated_at,
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
    auto_reply: bool
    created_at: datetime

    @classmethod
    def of(cls, message: Message) -> "MessageOut":
        """Present ``message``."""
        return cls(
            id=message.id, ticket_id=message.ticket_id, author_role=message.author_role,
            author_id=message.author_id, public=message.public, channel=message.channel,
            body=message.body, auto_reply=message.auto_reply, created_at=message.created_at,
        )


def router(unit_of_work: UnitOfWorkFactory, max_page_size: int) -> APIRouter:
    """The ``/v1/tickets`` routes on ``unit_of_work``."""
    api = APIRouter(prefix="/v1/tickets", tags=["tickets"])
    reader = require_scope("tickets:read")
    writer = require_scope("tickets:write")

    @api.post("", status_code=201, response_model=TicketOut)
    async def create_ticket(body: TicketIn, principal: Principal = writer) -> TicketOut:
        """Open a ticket."""
        ticket = await handlers.open_ticket(
            handlers.OpenTicket(
                tenant_id=principal.tenant_id, subject=body.subject,
                description=body.description, requester=body.requester,
                priority=body.priority, type=body.type, tags=body.tags, channel="api",
            ),
            unit_of_work(),
        )
        return TicketOut.of(ticket)

    @api.get("", response_model=TicketPage)
    async def list_tickets(
        request: Request,
        principal: Principal = reader,
        cursor: str | None = None,
        limit: Annotated[int, Query(ge=1)] = 25,
        status: TicketStatus | None = None,
        priority: Priority | None = None,
        assignee: str | None = None,
    ) -> TicketPage:
        """The tenant's tickets, oldest first, one page at a time."""
        try:
            after = decode_cursor(cursor) if cursor else None
        except ValueError as error:
            raise HTTPException(400, f"cursor: {error}") from error
        page_size = min(limit, max_page_size)
        async with unit_of_work() as uow:
            tickets = await uow.tickets.page(
                principal.tenant_id, limit=page_size + 1, after=after, status=status,
                priority=priority, assignee_id=assignee,
            )
        more = len(tickets) > page_size
        tickets = tickets[:page_size]
        return TicketPage(
            items=[TicketOut.of(ticket) for ticket in tickets],
            next_cursor=encode_cursor(tickets[-1]) if more else None,
        )

    @api.get("/{ticket_id}", response_model=TicketOut)
    async def get_ticket(ticket_id: str, principal: Principal = reader) -> TicketOut:
        """One ticket, with its assignee and SLA state."""
        async with unit_of_work() as uow:
            ticket = await uow.tickets.get(principal.tenant_id, ticket_id)
        if ticket is None:
            raise not_found("ticket")
        return TicketOut.of(ticket)

    @api.post("/{ticket_id}/messages", status_code=201, response_model=MessageOut)
    async def add_message(ticket_id: str, body: MessageIn, principal: Principal = writer
                          ) -> MessageOut:
        """Add a public reply or an internal note."""
        try:
            message = await handlers.add_message(
                handlers.AddMessage(
                    tenant_id=principal.tenant_id, ticket_id=ticket_id,
                    author_role=body.author_role, author_id=body.author_id, public=body.public,
                    channel="api", body=body.body,
                ),
                unit_of_work(),
            )
        except TicketNotFound as error:
            raise not_found("ticket") from error
        return MessageOut.of(message)

    @api.get("/{ticket_id}/messages", response_model=list[MessageOut])
    async def list_messages(ticket_id: str, principal: Principal = reader) -> list[MessageOut]:
        """The ticket's messages in order."""
        async with unit_of_work() as uow:
            if await uow.tickets.get(principal.tenant_id, ticket_id) is None:
                raise not_found("ticket")
            messages = await uow.tickets.messages(principal.tenant_id, ticket_id)
        return [MessageOut.of(message) for message in messages]

    return api

"""Intake's use cases: one handler per command, and the handlers of the events it follows."""

from collections.abc import Callable
from dataclasses import dataclass

from helpline_intake.domain.errors import TicketNotFound
from helpline_intake.domain.model import Message, Ticket
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared.envelope import Envelope
from helpline_shared.events import (
    AuthorRole,
    Channel,
    Priority,
    Requester,
    SlaBreached,
    SlaClockStarted,
    SlaClockStopped,
    TicketAssigned,
    TicketType,
)
from helpline_shared.runtime.db import utcnow

CONSUMER = "intake"

UnitOfWorkFactory = Callable[[], IntakeUnitOfWork]


@dataclass(frozen=True)
class OpenTicket:
    """Open a ticket for a tenant's customer."""

    tenant_id: str
    subject: str
    description: str
    requester: Requester
    priority: Priority
    type: TicketType
    tags: list[str]
    channel: Channel


@dataclass(frozen=True)
class AddMessage:
    """Add a public reply or an internal note to a ticket."""

    tenant_id: str
    ticket_id: str
    author_role: AuthorRole
    author_id: str | None
    public: bool
    channel: Channel
    body: str
    auto_reply: bool = False


async def open_ticket(command: OpenTicket, uow: IntakeUnitOfWork) -> Ticket:
    """Open the ticket and publish ``TicketCreated``."""
    async with uow:
        ticket = Ticket.open(
            tenant_id=command.tenant_id, subject=command.subject,
            description=command.description, requester=command.requester,
            priority=command.priority, type=command.type, tags=command.tags,
            channel=command.channel, now=utcnow(),
        )
        await uow.tickets.add(ticket)
        for event in ticket.events:
            uow.publish(event)
        await uow.commit()
        return ticket


async def add_message(command: AddMessage, uow: IntakeUnitOfWork) -> Message:
    """Add the message and publish ``MessageAdded`` (and a status change it causes)."""
    async with uow:
        ticket = await uow.tickets.get(command.tenant_id, command.ticket_id)
        if ticket is None:
            raise TicketNotFound(command.ticket_id)
        message = ticket.add_message(
            author_role=command.author_role, author_id=command.author_id, public=command.public,
            channel=command.channel, body=command.body, auto_reply=command.auto_reply,
            now=utcnow(),
        )
        await uow.tickets.add_message(message)
        await uow.tickets.save(ticket)
        for event in ticket.events:
            uow.publish(event)
        await uow.commit()
        return message


async def on_routing_or_sla_event(envelope: Envelope, uow: IntakeUnitOfWork) -> None:
    """Show the assignee and SLA state that routing and escalation report on the ticket."""
    event = envelope.event
    if not isinstance(event, TicketAssigned | SlaClockStarted | SlaClockStopped | SlaBreached):
        return
    async with uow:
        if not await uow.claim_event(CONSUMER, envelope.id):
            return
        ticket = await uow.tickets.get(event.tenant_id, event.ticket_id)
        if ticket is None:
            raise TicketNotFound(event.ticket_id)
        if isinstance(event, TicketAssigned):
            ticket.record_assignment(event)
        else:
            ticket.record_sla(event)
        await uow.tickets.save(ticket)
        for raised in ticket.events:
            uow.publish(raised)
        await uow.commit()

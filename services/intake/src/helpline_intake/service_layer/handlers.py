"""Intake's use cases: one handler per command, and the handlers of the events it follows.

The consumer applies events through ``handler_table``; the runtime owns each transaction.
"""

import contextvars
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, get_args

from helpline_intake.domain.email.threading import normalize_message_id
from helpline_intake.domain.errors import TicketNotFound
from helpline_intake.domain.model import Message, SlaEvent, Ticket
from helpline_intake.domain.people import Person
from helpline_intake.service_layer.requesters import origins_for
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared.envelope import Envelope
from helpline_shared.events import (
    Actor,
    AuditRecorded,
    AuthorRole,
    Channel,
    NotificationDelivered,
    Priority,
    Requester,
    TenantDeleted,
    TicketAssigned,
    TicketClassified,
    TicketStatus,
    TicketType,
    UserCreated,
    UserDeactivated,
    UserUpdated,
)
from helpline_shared.runtime.consumer import HandlerTable, apply_alone
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.group_commit import Call, GroupCommit

CONSUMER = "intake"
IDENTITY_EVENTS = (UserCreated, UserUpdated, UserDeactivated, TenantDeleted)

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
    actor: Actor | None = None
    audit: AuditRecorded | None = None
    """Published with the ticket (the audit record of the request that opens it)."""


@dataclass(frozen=True)
class UpdateTicket:
    """Change a ticket's status, priority, type or tags (None leaves a field as it is)."""

    tenant_id: str
    ticket_id: str
    status: TicketStatus | None = None
    priority: Priority | None = None
    type: TicketType | None = None
    tags: list[str] | None = None
    actor: Actor | None = None


@dataclass(frozen=True)
class MergeTickets:
    """Merge the duplicate ``source_id`` into ``target_id``."""

    tenant_id: str
    source_id: str
    target_id: str
    actor: Actor | None = None


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
    attachments: tuple[dict[str, Any], ...] = ()
    actor: Actor | None = None
    audit: AuditRecorded | None = None
    """Published with the message (an import that sets its author is audited)."""


async def open_ticket(command: OpenTicket, uow: IntakeUnitOfWork) -> Ticket:
    """Open the ticket and publish ``TicketCreated``."""
    async with uow:
        (ticket,) = await open_tickets(uow, [(command, contextvars.copy_context())])
        await uow.commit()
        return ticket


async def open_tickets(uow: IntakeUnitOfWork, commands: Sequence[Call[OpenTicket]]) -> list[Ticket]:
    """Open each command's ticket in the open ``uow``, its requesters stored in one statement
    and its tickets inserted in one, and stage each ``TicketCreated`` (and audit record) in its
    caller's context, so it carries that request's trace; the caller commits."""
    origins = await origins_for(
        uow, [(command.tenant_id, command.requester) for command, _context in commands]
    )
    tickets = [
        Ticket.open(
            tenant_id=command.tenant_id,
            subject=command.subject,
            description=command.description,
            requester=command.requester,
            priority=command.priority,
            type=command.type,
            tags=command.tags,
            channel=command.channel,
            now=utcnow(),
            origin=origin,
            actor=command.actor,
        )
        for (command, _context), origin in zip(commands, origins, strict=True)
    ]
    await uow.tickets.add_all(tickets)
    for (command, context), ticket in zip(commands, tickets, strict=True):
        context.run(_stage, uow, ticket, command.audit)
    return tickets


def _stage(uow: IntakeUnitOfWork, ticket: Ticket, audit: AuditRecorded | None) -> None:
    for event in ticket.events:
        uow.publish(event)
    if audit is not None:
        uow.publish(audit)


def ticket_openings(
    unit_of_work: UnitOfWorkFactory,
) -> GroupCommit[IntakeUnitOfWork, OpenTicket, Ticket]:
    """Tickets opened by concurrent requests, in one transaction per write turn (one BEGIN, one
    statement per table and one COMMIT for a burst of them); any failure, and each is opened
    alone."""

    async def alone(command: OpenTicket) -> Ticket:
        return await open_ticket(command, unit_of_work())

    return GroupCommit(unit_of_work, open_tickets, alone)


async def update_ticket(command: UpdateTicket, uow: IntakeUnitOfWork) -> Ticket:
    """Apply the change; publish ``TicketUpdated`` and/or ``TicketStatusChanged``."""
    async with uow:
        ticket = await uow.tickets.get(command.tenant_id, command.ticket_id)
        if ticket is None:
            raise TicketNotFound(command.ticket_id)
        ticket.update(
            now=utcnow(),
            status=command.status,
            priority=command.priority,
            type=command.type,
            tags=command.tags,
            actor=command.actor,
        )
        await uow.tickets.save(ticket)
        for event in ticket.events:
            uow.publish(event)
        await uow.commit()
        return ticket


async def merge_tickets(command: MergeTickets, uow: IntakeUnitOfWork) -> Ticket:
    """Close the duplicate, note the merge on both, and make its mail thread to the target."""
    async with uow:
        source = await uow.tickets.get(command.tenant_id, command.source_id)
        target = await uow.tickets.get(command.tenant_id, command.target_id)
        if source is None:
            raise TicketNotFound(command.source_id)
        if target is None:
            raise TicketNotFound(command.target_id)
        now = utcnow()
        source.merge_into(target, now, command.actor)
        note = target.add_message(
            author_role="system",
            author_id=None,
            public=False,
            channel="api",
            body=f"Ticket {source.id} ({source.subject}) was merged into this ticket.\n\n"
            f"{source.description}"[:100_000],
            auto_reply=False,
            now=now,
            actor=command.actor,
        )
        await uow.tickets.add_message(note)
        await uow.tickets.retarget_messages(source.id, target.id)
        for ticket in (source, target):
            await uow.tickets.save(ticket)
            for event in ticket.events:
                uow.publish(event)
        await uow.commit()
        return target


async def add_message(command: AddMessage, uow: IntakeUnitOfWork) -> Message:
    """Add the message and publish ``MessageAdded`` (and a status change it causes)."""
    async with uow:
        ticket = await uow.tickets.get(command.tenant_id, command.ticket_id)
        if ticket is None:
            raise TicketNotFound(command.ticket_id)
        message = ticket.add_message(
            author_role=command.author_role,
            author_id=command.author_id,
            public=command.public,
            channel=command.channel,
            body=command.body,
            auto_reply=command.auto_reply,
            now=utcnow(),
            attachments=list(command.attachments),
            actor=command.actor,
        )
        await uow.tickets.add_message(message)
        await uow.tickets.save(ticket)
        for event in ticket.events:
            uow.publish(event)
        if command.audit is not None:
            uow.publish(command.audit)
        await uow.commit()
        return message


def handler_table() -> HandlerTable[IntakeUnitOfWork]:
    """Intake's consumer: what routing, escalation, notify and identity report, and its appliers."""
    return HandlerTable(
        CONSUMER,
        {
            TicketAssigned: apply_routing_or_sla_event,
            TicketClassified: apply_classification,
            **dict.fromkeys(get_args(SlaEvent), apply_routing_or_sla_event),
            NotificationDelivered: apply_notification,
            **dict.fromkeys(IDENTITY_EVENTS, apply_identity_event),
        },
        unneeded=unneeded,
        prepare=prepare,
    )


async def prepare(uow: IntakeUnitOfWork, envelopes: Sequence[Envelope]) -> None:
    """Read the tickets a batch's assignments, classifications and SLA events update, in one
    statement (their handlers then find them read)."""
    await uow.tickets.load(
        envelope.event.ticket_id
        for envelope in envelopes
        if isinstance(envelope.event, TicketAssigned | TicketClassified | SlaEvent)
    )


async def unneeded(envelopes: Sequence[Envelope]) -> set[str]:
    """The deliveries with no Message-ID to remember (a webhook's, an SMS): acknowledged
    without a transaction or an inbox row, since applying them changes nothing."""
    return {
        envelope.id
        for envelope in envelopes
        if isinstance(envelope.event, NotificationDelivered)
        and normalize_message_id(envelope.event.outbound_message_id) is None
    }


async def on_event(envelope: Envelope, uow: IntakeUnitOfWork) -> None:
    """Apply one event in a transaction of its own, as the consumer would (tests, tools)."""
    await apply_alone(handler_table(), uow, envelope)


async def apply_routing_or_sla_event(uow: IntakeUnitOfWork, envelope: Envelope) -> None:
    """Show the assignee and SLA state that routing and escalation report on the ticket."""
    event = envelope.event
    if not isinstance(event, TicketAssigned | SlaEvent):
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


async def apply_classification(uow: IntakeUnitOfWork, envelope: Envelope) -> None:
    """Show the team routing's rules sent the ticket to, for team queues and reports."""
    event = envelope.event
    if not isinstance(event, TicketClassified):
        return
    ticket = await uow.tickets.get(event.tenant_id, event.ticket_id)
    if ticket is None:
        raise TicketNotFound(event.ticket_id)
    ticket.record_classification(event)
    await uow.tickets.save(ticket)


async def apply_notification(uow: IntakeUnitOfWork, envelope: Envelope) -> None:
    """Remember the Message-ID of an email notify sent on a ticket, so replies thread to it."""
    event = envelope.event
    if not isinstance(event, NotificationDelivered):
        return
    message_id = normalize_message_id(event.outbound_message_id)
    if message_id is not None:
        await uow.mail.remember_sent_id(event.tenant_id, message_id, event.ticket_id)


async def apply_identity_event(uow: IntakeUnitOfWork, envelope: Envelope) -> None:
    """Keep the tenant's people as identity announces them (to know an agent's mail)."""
    event = envelope.event
    if not isinstance(event, IDENTITY_EVENTS):
        return
    if isinstance(event, UserDeactivated):
        await uow.people.deactivate(event.tenant_id, event.user_id)
    elif isinstance(event, TenantDeleted):
        await uow.people.forget_tenant(event.tenant_id)
    else:
        await uow.people.save(
            Person(
                tenant_id=event.tenant_id,
                user_id=event.user_id,
                email=str(event.email),
                name=event.name,
                role=event.role,
                active=event.active if isinstance(event, UserUpdated) else True,
            )
        )

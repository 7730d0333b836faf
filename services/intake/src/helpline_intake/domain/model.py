"""Tickets and their messages as plain data, with the rules that change them."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from helpline_shared.events import (
    AuthorRole,
    Channel,
    Event,
    MessageAdded,
    Priority,
    Requester,
    SlaBreached,
    SlaClockStarted,
    SlaClockStopped,
    TicketAssigned,
    TicketCreated,
    TicketStatus,
    TicketStatusChanged,
    TicketType,
)

REOPENED_BY_CUSTOMER: frozenset[TicketStatus] = frozenset({"pending", "solved"})
"""Statuses a customer's answer moves back to ``open`` (an auto-reply never does)."""


def new_id() -> str:
    """A fresh ticket or message id."""
    return str(uuid.uuid4())


@dataclass
class Message:
    """A public reply or internal note on a ticket."""

    id: str
    ticket_id: str
    tenant_id: str
    author_role: AuthorRole
    author_id: str | None
    public: bool
    channel: Channel
    body: str
    auto_reply: bool
    created_at: datetime


@dataclass
class Ticket:
    """A customer's request, as intake records it."""

    id: str
    tenant_id: str
    subject: str
    description: str
    requester_email: str
    requester_name: str | None
    priority: Priority
    type: TicketType
    tags: list[str]
    channel: Channel
    status: TicketStatus
    created_at: datetime
    updated_at: datetime
    assignee_id: str | None = None
    sla: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def open(
        cls,
        *,
        tenant_id: str,
        subject: str,
        description: str,
        requester: Requester,
        priority: Priority,
        type: TicketType,
        tags: list[str],
        channel: Channel,
        now: datetime,
    ) -> "Ticket":
        """Open a new ticket and raise ``TicketCreated``."""
        ticket = cls(
            id=new_id(), tenant_id=tenant_id, subject=subject, description=description,
            requester_email=str(requester.email), requester_name=requester.name,
            priority=priority, type=type, tags=sorted(set(tags)), channel=channel,
            status="new", created_at=now, updated_at=now,
        )
        ticket.events.append(
            TicketCreated(
                tenant_id=tenant_id, ticket_id=ticket.id, occurred_at=now, subject=subject,
                description=description, requester=requester, priority=priority, type=type,
                tags=tuple(ticket.tags), channel=channel, status="new",
            )
        )
        return ticket

    def _change_status(self, status: TicketStatus, now: datetime) -> None:
        if status == self.status:
            return
        previous, self.status, self.updated_at = self.status, status, now
        self.events.append(
            TicketStatusChanged(tenant_id=self.tenant_id, ticket_id=self.id, occurred_at=now,
                                previous_status=previous, status=status)
        )

    def add_message(
        self,
        *,
        author_role: AuthorRole,
        author_id: str | None,
        public: bool,
        channel: Channel,
        body: str,
        auto_reply: bool,
        now: datetime,
    ) -> Message:
        """Add a reply or note; a customer's real answer reopens a pending or solved ticket."""
        message = Message(
            id=new_id(), ticket_id=self.id, tenant_id=self.tenant_id, author_role=author_role,
            author_id=author_id, public=public, channel=channel, body=body,
            auto_reply=auto_reply, created_at=now,
        )
        self.updated_at = now
        self.events.append(
            MessageAdded(
                tenant_id=self.tenant_id, ticket_id=self.id, occurred_at=now,
                message_id=message.id, author_role=author_role, author_id=author_id,
                public=public, channel=channel, body=body, auto_reply=auto_reply,
            )
        )
        if author_role == "requester" and not auto_reply and self.status in REOPENED_BY_CUSTOMER:
            self._change_status("open", now)
        return message

    def record_assignment(self, event: TicketAssigned) -> None:
        """Show the assignee routing chose; a new ticket becomes open."""
        self.assignee_id = event.agent_id
        if self.status == "new":
            self._change_status("open", event.occurred_at)
        else:
            self.updated_at = event.occurred_at

    def record_sla(self, event: SlaClockStarted | SlaClockStopped | SlaBreached) -> None:
        """Show the state of an SLA metric as escalation reports it."""
        state = dict(self.sla.get(event.metric, {}))
        state["deadline"] = event.deadline.isoformat()
        if isinstance(event, SlaClockStarted):
            state.update(state="running", started_at=event.started_at.isoformat())
        elif isinstance(event, SlaClockStopped):
            state.update(state="breached" if event.breached else "met",
                         stopped_at=event.stopped_at.isoformat())
        else:
            state.update(state="breached", breached_at=event.occurred_at.isoformat())
        self.sla = {**self.sla, event.metric: state}

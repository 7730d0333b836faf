"""Tickets and their messages as plain data, with the rules that change them."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from helpline_intake.domain.errors import CannotMerge, TicketClosed
from helpline_shared.events import (
    Actor,
    AuthorRole,
    Channel,
    Event,
    MessageAdded,
    Priority,
    Requester,
    SlaBreached,
    SlaClockPaused,
    SlaClockResumed,
    SlaClockStarted,
    SlaClockStopped,
    SlaDeadlineRecomputed,
    SlaEscalated,
    TicketAssigned,
    TicketClassified,
    TicketCreated,
    TicketMerged,
    TicketStatus,
    TicketStatusChanged,
    TicketType,
    TicketUpdated,
)

REOPENED_BY_CUSTOMER: frozenset[TicketStatus] = frozenset({"pending", "solved"})
"""Statuses a customer's answer moves back to ``open`` (an auto-reply never does)."""

PRIORITY_RANK: dict[Priority, int] = {"low": 0, "normal": 1, "high": 2, "urgent": 3}

SYSTEM = Actor(type="system")
"""Helpline itself: what no credential and no mail caused (an automatic assignment, a bounce)."""

SlaEvent = (
    SlaClockStarted
    | SlaClockStopped
    | SlaBreached
    | SlaClockPaused
    | SlaClockResumed
    | SlaDeadlineRecomputed
    | SlaEscalated
)
"""The events of ``helpline.sla`` that change what a ticket shows of its clocks."""

OPEN_STATUSES: tuple[TicketStatus, ...] = ("new", "open", "pending", "on_hold")
"""Statuses of the backlog: everything not solved or closed."""

AT_RISK_WITHIN = timedelta(hours=1)
"""A running clock due this soon puts its ticket at risk."""


def next_deadline(sla: dict[str, dict[str, Any]]) -> datetime | None:
    """The earliest deadline among the running clocks of a ticket's SLA view, if any."""
    deadlines = [
        datetime.fromisoformat(state["deadline"])
        for state in sla.values()
        if state.get("state") == "running" and state.get("deadline")
    ]
    return min(deadlines, default=None)


def sla_breached(sla: dict[str, dict[str, Any]]) -> bool:
    """Whether any clock of a ticket's SLA view breached (paused after a breach included)."""
    return any(
        state.get("state") == "breached" or bool(state.get("breached")) for state in sla.values()
    )


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
    email_message_id: str | None = None
    html: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    """Metadata of stored files: id, filename, content_type, size, sha256, inline."""


@dataclass(frozen=True)
class Origin:
    """Where a ticket came from and whom it is for, beyond the requester's address."""

    organization_id: str | None = None
    plan: str | None = None
    language: str | None = None
    mailbox: str | None = None


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
    organization_id: str | None = None
    mailbox: str | None = None
    merged_into_id: str | None = None
    team: str | None = None
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
        origin: Origin | None = None,
        ticket_id: str | None = None,
        actor: Actor | None = None,
    ) -> "Ticket":
        """Open a new ticket and raise ``TicketCreated``."""
        origin = origin or Origin()
        ticket = cls(
            id=ticket_id or new_id(),
            tenant_id=tenant_id,
            subject=subject,
            description=description,
            requester_email=str(requester.email),
            requester_name=requester.name,
            priority=priority,
            type=type,
            tags=sorted(set(tags)),
            channel=channel,
            status="new",
            created_at=now,
            updated_at=now,
            organization_id=origin.organization_id,
            mailbox=origin.mailbox,
        )
        ticket.events.append(
            TicketCreated(
                tenant_id=tenant_id,
                ticket_id=ticket.id,
                occurred_at=now,
                subject=subject,
                description=description,
                requester=requester,
                priority=priority,
                type=type,
                tags=tuple(ticket.tags),
                channel=channel,
                status="new",
                organization_id=origin.organization_id,
                plan=origin.plan,
                language=origin.language,
                mailbox=origin.mailbox,
                actor=actor,
            )
        )
        return ticket

    def _change_status(self, status: TicketStatus, now: datetime, actor: Actor | None) -> None:
        if status == self.status:
            return
        previous, self.status, self.updated_at = self.status, status, now
        self.events.append(
            TicketStatusChanged(
                tenant_id=self.tenant_id,
                ticket_id=self.id,
                occurred_at=now,
                previous_status=previous,
                status=status,
                actor=actor,
            )
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
        email_message_id: str | None = None,
        html: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        actor: Actor | None = None,
    ) -> Message:
        """Add a reply or note; a customer's real, public answer reopens a pending or solved one.

        A message kept from the customer (``public`` False: mail that claimed to be an agent's
        without proof) never reopens: it answers nothing.
        """
        if self.status == "closed" and author_role != "system":
            raise TicketClosed(self.id)
        message = Message(
            id=new_id(),
            ticket_id=self.id,
            tenant_id=self.tenant_id,
            author_role=author_role,
            author_id=author_id,
            public=public,
            channel=channel,
            body=body,
            auto_reply=auto_reply,
            created_at=now,
            email_message_id=email_message_id,
            html=html,
            attachments=list(attachments or []),
        )
        self.updated_at = now
        self.events.append(
            MessageAdded(
                tenant_id=self.tenant_id,
                ticket_id=self.id,
                occurred_at=now,
                message_id=message.id,
                author_role=author_role,
                author_id=author_id,
                public=public,
                channel=channel,
                body=body,
                auto_reply=auto_reply,
                email_message_id=email_message_id,
                actor=actor,
            )
        )
        if (
            author_role == "requester"
            and public
            and not auto_reply
            and self.status in REOPENED_BY_CUSTOMER
        ):
            self._change_status("open", now, actor)
        return message

    def update(
        self,
        *,
        now: datetime,
        status: TicketStatus | None = None,
        priority: Priority | None = None,
        type: TicketType | None = None,
        tags: list[str] | None = None,
        actor: Actor | None = None,
    ) -> None:
        """Change status, priority, type or tags; a closed ticket stays closed."""
        if self.status == "closed" and status not in (None, "closed"):
            raise TicketClosed(self.id)
        changed: list[str] = []
        if priority is not None and priority != self.priority:
            self.priority = priority
            changed.append("priority")
        if type is not None and type != self.type:
            self.type = type
            changed.append("type")
        if tags is not None and sorted(set(tags)) != self.tags:
            self.tags = sorted(set(tags))
            changed.append("tags")
        if changed:
            self.updated_at = now
            self.events.append(
                TicketUpdated(
                    tenant_id=self.tenant_id,
                    ticket_id=self.id,
                    occurred_at=now,
                    changed_fields=tuple(changed),
                    priority=self.priority,
                    type=self.type,
                    tags=tuple(self.tags),
                    actor=actor,
                )
            )
        if status is not None:
            self._change_status(status, now, actor)

    def merge_into(self, target: "Ticket", now: datetime, actor: Actor | None = None) -> None:
        """Close this duplicate and point it at ``target`` (mail to it then lands there)."""
        if target.id == self.id or target.merged_into_id is not None:
            raise CannotMerge(self.id, target.id)
        if self.merged_into_id is not None:
            raise CannotMerge(self.id, target.id)
        self.merged_into_id = target.id
        self._change_status("closed", now, actor)
        self.events.append(
            TicketMerged(
                tenant_id=self.tenant_id,
                ticket_id=self.id,
                occurred_at=now,
                into_ticket_id=target.id,
                actor=actor,
            )
        )

    def record_assignment(self, event: TicketAssigned) -> None:
        """Show the assignee routing chose; a new ticket becomes open (by whoever assigned it)."""
        self.assignee_id = event.agent_id
        if self.status == "new":
            self._change_status("open", event.occurred_at, event.actor or SYSTEM)
        else:
            self.updated_at = event.occurred_at

    def record_classification(self, event: TicketClassified) -> None:
        """Show the team routing's rules sent the ticket to (a later relaxation only widens it)."""
        self.team = event.team

    @property
    def next_deadline(self) -> datetime | None:
        """The earliest deadline of a running SLA clock; None when no clock runs."""
        return next_deadline(self.sla)

    @property
    def sla_breached(self) -> bool:
        """Whether any SLA clock of the ticket breached."""
        return sla_breached(self.sla)

    def record_sla(self, event: SlaEvent) -> None:
        """Show an SLA metric's state (running, paused, met, breached) as escalation reports it.

        An event older than the clock version already shown is ignored (a redelivery or a
        late partition cannot move the view back); an escalation that raises the priority
        shows on the ticket without a ``TicketUpdated`` (routing acts on the escalation itself).
        """
        state = dict(self.sla.get(event.metric, {}))
        if event.clock_version < int(state.get("clock_version", 0)):
            return
        state["clock_version"] = event.clock_version
        if isinstance(event, SlaClockStarted):
            state = {
                "state": "running",
                "deadline": event.deadline.isoformat(),
                "started_at": event.started_at.isoformat(),
                "target_seconds": event.target_seconds,
                "clock_version": event.clock_version,
            }
        elif isinstance(event, SlaClockStopped):
            state.update(
                state="breached" if event.breached else "met",
                deadline=event.deadline.isoformat(),
                stopped_at=event.stopped_at.isoformat(),
                breached=event.breached,
            )
            state.pop("paused_at", None)
        elif isinstance(event, SlaBreached):
            state.update(
                deadline=event.deadline.isoformat(),
                breached=True,
                breached_at=event.occurred_at.isoformat(),
            )
            if state.get("state") != "paused":
                state["state"] = "breached"
        elif isinstance(event, SlaClockPaused):
            # While paused the deadline moves with the pause: none is due until it resumes.
            state.update(
                state="paused",
                deadline=None,
                paused_at=event.occurred_at.isoformat(),
                elapsed_seconds=event.elapsed_seconds,
                pause_reason=event.reason,
            )
        elif isinstance(event, SlaClockResumed):
            state.update(
                state="breached" if state.get("breached") else "running",
                deadline=event.deadline.isoformat(),
                paused_seconds=event.paused_seconds,
            )
            state.pop("paused_at", None)
            state.pop("pause_reason", None)
        elif isinstance(event, SlaDeadlineRecomputed):
            if state.get("state") != "paused":
                state["deadline"] = event.deadline.isoformat()
            state.update(target_seconds=event.target_seconds, recomputed=event.reason)
        else:
            state.update(escalation_level=max(event.level, int(state.get("escalation_level", 0))))
            raised = event.raise_priority_to
            if raised is not None and PRIORITY_RANK[raised] > PRIORITY_RANK[self.priority]:
                self.priority = raised
        self.sla = {**self.sla, event.metric: state}

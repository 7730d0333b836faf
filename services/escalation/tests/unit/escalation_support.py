"""Helpers of escalation's unit tests: events as consumers see them, and what was published."""

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_escalation.adapters.orm import metadata, timers
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared.envelope import Envelope, from_record, new_event_id, to_record
from helpline_shared.events import (
    AuthorRole,
    Event,
    MessageAdded,
    Priority,
    Requester,
    TicketCreated,
    TicketStatus,
    TicketStatusChanged,
)
from helpline_shared.runtime.db import inbox_table, outbox_table, utcnow
from helpline_shared.runtime.timers import Timer

UnitOfWorkFactory = Callable[[], EscalationUnitOfWork]
UnitOfWorkT = TypeVar("UnitOfWorkT", bound=EscalationUnitOfWork)
TENANT = "acme"


def unit_of_work_on(engine: AsyncEngine, kind: type[UnitOfWorkT]) -> UnitOfWorkT:
    """A unit of work of ``kind`` on ``engine``, wired like the runtime wires it."""
    return kind(
        async_sessionmaker(engine, expire_on_commit=False),
        outbox_table=outbox_table(metadata),
        inbox_table=inbox_table(metadata),
        source="/helpline/escalation",
    )


def ticket_created(
    ticket_id: str = "t-1",
    *,
    priority: Priority = "high",
    at: datetime | None = None,
    tenant_id: str = TENANT,
) -> TicketCreated:
    """A new ticket's ``TicketCreated``."""
    return TicketCreated(
        tenant_id=tenant_id,
        ticket_id=ticket_id,
        occurred_at=at or utcnow(),
        subject="Printer",
        description="It is on fire",
        requester=Requester(email="ann@example.com"),
        priority=priority,
        type="question",
        channel="api",
    )


def message_added(
    ticket_id: str = "t-1",
    *,
    author_role: AuthorRole = "agent",
    public: bool = True,
    auto_reply: bool = False,
    at: datetime | None = None,
) -> MessageAdded:
    """A ``MessageAdded`` on the ticket."""
    return MessageAdded(
        tenant_id=TENANT,
        ticket_id=ticket_id,
        occurred_at=at or utcnow(),
        message_id=new_event_id(),
        author_role=author_role,
        public=public,
        channel="api",
        body="Hello",
        auto_reply=auto_reply,
    )


def status_changed(ticket_id: str = "t-1", *, status: TicketStatus) -> TicketStatusChanged:
    """A ``TicketStatusChanged`` from open to ``status``."""
    return TicketStatusChanged(
        tenant_id=TENANT,
        ticket_id=ticket_id,
        occurred_at=utcnow(),
        previous_status="open",
        status=status,
    )


def envelope_of(event: Event, event_id: str | None = None) -> Envelope:
    """``event`` as a consumer receives it, through the real CloudEvents encoding."""
    record = to_record(event, source="/helpline/intake", event_id=event_id)
    return from_record(record.headers, record.value)


async def published(engine: AsyncEngine) -> list[Envelope]:
    """Every event in the outbox, in publication order."""
    table = outbox_table(metadata)
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(table.c.headers, table.c.record_value).order_by(table.c.id)
        )
        return [
            from_record([(name, value.encode()) for name, value in row.headers], row.record_value)
            for row in rows
        ]


async def pending_timers(engine: AsyncEngine) -> list[Timer]:
    """Timers not fired yet, earliest first."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(timers).where(timers.c.fired_at.is_(None)).order_by(timers.c.due_at)
        )
        return [
            Timer(
                id=row.id,
                kind=row.kind,
                due_at=row.due_at,
                payload=row.payload,
                trace_headers=row.trace_headers,
            )
            for row in rows
        ]

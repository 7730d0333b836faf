"""Tickets and messages in the database, always scoped to one tenant."""

import base64
import json
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_intake.adapters.orm import messages, thread_ids, tickets
from helpline_intake.domain.model import Message, Ticket
from helpline_shared.inputs import refuse_unrepresentable_instant

_TICKET_COLUMNS = [f.name for f in fields(Ticket) if f.name != "events"]


def _ticket(row: Any) -> Ticket:
    return Ticket(**{name: getattr(row, name) for name in _TICKET_COLUMNS})


def _ticket_values(ticket: Ticket) -> dict[str, Any]:
    values = {name: getattr(ticket, name) for name in _TICKET_COLUMNS}
    values["tag_index"] = "," + ",".join(ticket.tags) + "," if ticket.tags else ""
    return values


def _message(row: Any) -> Message:
    values = dict(row._mapping)
    values["attachments"] = values.get("attachments") or []
    return Message(**values)


@dataclass(frozen=True)
class TicketFilter:
    """What a ticket list may be narrowed by; None means any."""

    status: str | None = None
    priority: str | None = None
    type: str | None = None
    assignee_id: str | None = None
    tag: str | None = None
    requester_email: str | None = None
    organization_id: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None


def encode_cursor(ticket: Ticket) -> str:
    """An opaque cursor pointing just after ``ticket`` in list order."""
    raw = json.dumps([ticket.created_at.isoformat(), ticket.id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Read a cursor made by ``encode_cursor``; ``ValueError`` if it is not one."""
    try:
        created_at, ticket_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        # A tampered instant without a zone, or out of range, must not reach the query.
        return refuse_unrepresentable_instant(datetime.fromisoformat(created_at)), str(ticket_id)
    except (ValueError, TypeError) as error:
        raise ValueError("not a cursor issued by this API") from error


class TicketRepository:
    """Reads and writes tickets of any tenant; callers always pass the tenant."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, ticket: Ticket) -> None:
        """Insert a new ticket."""
        await self._session.execute(insert(tickets).values(**_ticket_values(ticket)))

    async def get(self, tenant_id: str, ticket_id: str) -> Ticket | None:
        """The tenant's ticket with that id, or None."""
        row = (
            await self._session.execute(
                select(tickets).where(tickets.c.id == ticket_id, tickets.c.tenant_id == tenant_id)
            )
        ).first()
        return _ticket(row) if row else None

    async def save(self, ticket: Ticket) -> None:
        """Write back a changed ticket."""
        values = _ticket_values(ticket)
        del values["id"]
        await self._session.execute(update(tickets).where(tickets.c.id == ticket.id).values(values))

    async def page(
        self,
        tenant_id: str,
        *,
        limit: int,
        after: tuple[datetime, str] | None = None,
        where: TicketFilter | None = None,
    ) -> list[Ticket]:
        """The tenant's tickets, oldest first, after the cursor position, filtered."""
        query = select(tickets).where(tickets.c.tenant_id == tenant_id)
        if after:
            created_at, ticket_id = after
            query = query.where(
                or_(tickets.c.created_at > created_at,
                    and_(tickets.c.created_at == created_at, tickets.c.id > ticket_id))
            )
        where = where or TicketFilter()
        for column, value in ((tickets.c.status, where.status),
                              (tickets.c.priority, where.priority),
                              (tickets.c.type, where.type),
                              (tickets.c.assignee_id, where.assignee_id),
                              (tickets.c.requester_email, where.requester_email),
                              (tickets.c.organization_id, where.organization_id)):
            if value is not None:
                query = query.where(column == value)
        if where.tag is not None:
            query = query.where(tickets.c.tag_index.contains(f",{where.tag},", autoescape=True))
        ranges = ((tickets.c.created_at, where.created_after, where.created_before),
                  (tickets.c.updated_at, where.updated_after, where.updated_before))
        for column, low, high in ranges:
            if low is not None:
                query = query.where(column >= low)
            if high is not None:
                query = query.where(column < high)
        rows = await self._session.execute(
            query.order_by(tickets.c.created_at, tickets.c.id).limit(limit)
        )
        return [_ticket(row) for row in rows]

    async def add_message(self, message: Message) -> None:
        """Insert a message."""
        await self._session.execute(insert(messages).values(**asdict(message)))

    async def messages(self, tenant_id: str, ticket_id: str) -> list[Message]:
        """The ticket's messages in order."""
        rows = await self._session.execute(
            select(messages)
            .where(messages.c.ticket_id == ticket_id, messages.c.tenant_id == tenant_id)
            .order_by(messages.c.created_at, messages.c.id)
        )
        return [_message(row) for row in rows]

    async def by_prefix(self, tenant_id: str, prefix: str) -> Ticket | None:
        """The tenant's ticket whose id starts with ``prefix`` (a subject token), if exactly one."""
        rows = (await self._session.execute(
            select(tickets).where(tickets.c.tenant_id == tenant_id,
                                  tickets.c.id.startswith(prefix, autoescape=True)).limit(2)
        )).all()
        return _ticket(rows[0]) if len(rows) == 1 else None

    async def retarget_messages(self, source_id: str, target_id: str) -> None:
        """Move the thread ids of a merged ticket to its target, so replies land there."""
        await self._session.execute(
            update(thread_ids).where(thread_ids.c.ticket_id == source_id)
            .values(ticket_id=target_id)
        )

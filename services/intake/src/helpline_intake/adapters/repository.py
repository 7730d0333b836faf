"""Tickets and messages in the database, always scoped to one tenant."""

import base64
import json
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_intake.adapters.orm import messages, tickets
from helpline_intake.domain.model import Message, Ticket

_TICKET_COLUMNS = [f.name for f in fields(Ticket) if f.name != "events"]


def _ticket(row: Any) -> Ticket:
    return Ticket(**{name: getattr(row, name) for name in _TICKET_COLUMNS})


def encode_cursor(ticket: Ticket) -> str:
    """An opaque cursor pointing just after ``ticket`` in list order."""
    raw = json.dumps([ticket.created_at.isoformat(), ticket.id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Read a cursor made by ``encode_cursor``; ``ValueError`` if it is not one."""
    try:
        created_at, ticket_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(created_at), str(ticket_id)
    except (ValueError, TypeError) as error:
        raise ValueError("not a cursor issued by this API") from error


class TicketRepository:
    """Reads and writes tickets of any tenant; callers always pass the tenant."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, ticket: Ticket) -> None:
        """Insert a new ticket."""
        values = {name: getattr(ticket, name) for name in _TICKET_COLUMNS}
        await self._session.execute(insert(tickets).values(**values))

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
        values = {name: getattr(ticket, name) for name in _TICKET_COLUMNS if name != "id"}
        await self._session.execute(update(tickets).where(tickets.c.id == ticket.id).values(values))

    async def page(
        self,
        tenant_id: str,
        *,
        limit: int,
        after: tuple[datetime, str] | None = None,
        status: str | None = None,
        priority: str | None = None,
        assignee_id: str | None = None,
    ) -> list[Ticket]:
        """The tenant's tickets, oldest first, after the cursor position, filtered."""
        query = select(tickets).where(tickets.c.tenant_id == tenant_id)
        if after:
            created_at, ticket_id = after
            query = query.where(
                or_(tickets.c.created_at > created_at,
                    and_(tickets.c.created_at == created_at, tickets.c.id > ticket_id))
            )
        for column, value in ((tickets.c.status, status), (tickets.c.priority, priority),
                              (tickets.c.assignee_id, assignee_id)):
            if value is not None:
                query = query.where(column == value)
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
        return [Message(**row._mapping) for row in rows]

"""Tickets and messages in the database, always scoped to one tenant."""

import base64
import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import TextClause

from helpline_intake.adapters.orm import messages, thread_ids, tickets
from helpline_intake.domain.model import (
    AT_RISK_WITHIN,
    Message,
    Ticket,
    next_deadline,
    sla_breached,
)
from helpline_shared.inputs import refuse_unrepresentable_instant
from helpline_shared.runtime.db import insert_all, unnest_parameters, unnest_update

_TICKET_COLUMNS = [f.name for f in fields(Ticket) if f.name != "events"]

NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)
"""``due_order`` of a ticket without a running clock: after every real deadline."""

TicketSort = Literal["created", "sla"]
SlaFilter = Literal["breached", "at_risk"]


def search_text(subject: str, requester_email: str, requester_name: str | None) -> str:
    """What ``q`` searches: subject, requester address and name, lower-cased."""
    return "\n".join([subject, requester_email, requester_name or ""]).lower()


def derived_values(ticket_values: dict[str, Any]) -> dict[str, Any]:
    """The columns kept from a ticket's other fields, for indexed filters and sorts."""
    deadline = next_deadline(ticket_values["sla"])
    return {
        "next_deadline": deadline,
        "due_order": deadline or NO_DEADLINE,
        "sla_breached": sla_breached(ticket_values["sla"]),
        "search_text": search_text(
            ticket_values["subject"],
            ticket_values["requester_email"],
            ticket_values["requester_name"],
        ),
    }


def _ticket(row: Any) -> Ticket:
    return Ticket(**{name: getattr(row, name) for name in _TICKET_COLUMNS})


def _copied(values: dict[str, Any]) -> dict[str, Any]:
    # The mutable fields copied: remembered values stay what the row holds, whatever a caller
    # later does to a ticket's tags or SLA view.
    copied = dict(values)
    if "tags" in copied:
        copied["tags"] = list(copied["tags"])
    if "sla" in copied:
        copied["sla"] = {metric: dict(state) for metric, state in copied["sla"].items()}
    return copied


def _ticket_from(values: dict[str, Any]) -> Ticket:
    return Ticket(**_copied({name: values[name] for name in _TICKET_COLUMNS}))


# Built once: building and cache-keying a statement per call cost more than running it.
_SELECT_TICKET = select(tickets).where(
    tickets.c.id == bindparam("ticket_key"), tickets.c.tenant_id == bindparam("tenant_key")
)
_SELECT_TICKETS = select(tickets).where(tickets.c.id.in_(bindparam("ticket_keys", expanding=True)))
_UPDATE_TICKET = update(tickets).where(tickets.c.id == bindparam("ticket_key"))


@functools.cache
def _update_tickets_pg(columns: tuple[str, ...]) -> TextClause:
    """PostgreSQL: these columns of several tickets in one statement of arrays."""
    return text(unnest_update(tickets, "u", "id", columns))


def _ticket_values(ticket: Ticket) -> dict[str, Any]:
    values = {name: getattr(ticket, name) for name in _TICKET_COLUMNS}
    values["tag_index"] = "," + ",".join(ticket.tags) + "," if ticket.tags else ""
    values.update(derived_values(values))
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
    unassigned: bool | None = None
    team: str | None = None
    sla: SlaFilter | None = None
    text: str | None = None
    """A substring of the subject, requester address or name, any case."""
    now: datetime | None = None
    """The instant ``sla="at_risk"`` counts from (required with it)."""


@dataclass(frozen=True)
class Position:
    """A place in a ticket list: just after the ticket with these sort keys."""

    created_at: datetime
    id: str
    due_order: datetime | None = None
    """Set in a list sorted by SLA deadline."""


def encode_cursor(ticket: Ticket, sort: TicketSort = "created") -> str:
    """An opaque cursor pointing just after ``ticket`` in the list order ``sort``."""
    keys = [ticket.created_at.isoformat(), ticket.id]
    if sort == "sla":
        keys = ["sla", (ticket.next_deadline or NO_DEADLINE).isoformat(), *keys]
    return base64.urlsafe_b64encode(json.dumps(keys).encode()).decode()


def _instant(value: Any) -> datetime:
    # A tampered instant without a zone, or out of range, must not reach the query.
    return refuse_unrepresentable_instant(datetime.fromisoformat(value))


def decode_cursor(cursor: str, sort: TicketSort = "created") -> Position:
    """Read a cursor made by ``encode_cursor`` for ``sort``; ``ValueError`` if it is not one."""
    try:
        keys = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(keys, list):
            raise TypeError("not a list")
        if sort == "sla":
            kind, due_order, created_at, ticket_id = keys
            if kind != "sla":
                raise ValueError("a cursor of another sort")
            return Position(_instant(created_at), str(ticket_id), _instant(due_order))
        created_at, ticket_id = keys
        return Position(_instant(created_at), str(ticket_id))
    except (ValueError, TypeError) as error:
        raise ValueError(f"not a cursor issued by this API for sort={sort}") from error


def _after(position: Position) -> ColumnElement[bool]:
    after_created = or_(
        tickets.c.created_at > position.created_at,
        and_(tickets.c.created_at == position.created_at, tickets.c.id > position.id),
    )
    if position.due_order is None:
        return after_created
    return or_(
        tickets.c.due_order > position.due_order,
        and_(tickets.c.due_order == position.due_order, after_created),
    )


def _at_risk(now: datetime) -> ColumnElement[bool]:
    # A running clock already past its deadline awaits escalation's breach: still at risk.
    return tickets.c.due_order <= now + AT_RISK_WITHIN


def _narrowed(where: TicketFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for column, value in (
        (tickets.c.status, where.status),
        (tickets.c.priority, where.priority),
        (tickets.c.type, where.type),
        (tickets.c.assignee_id, where.assignee_id),
        (tickets.c.requester_email, where.requester_email),
        (tickets.c.organization_id, where.organization_id),
        (tickets.c.team, where.team),
    ):
        if value is not None:
            conditions.append(column == value)
    if where.tag is not None:
        conditions.append(tickets.c.tag_index.contains(f",{where.tag},", autoescape=True))
    ranges = (
        (tickets.c.created_at, where.created_after, where.created_before),
        (tickets.c.updated_at, where.updated_after, where.updated_before),
    )
    for column, low, high in ranges:
        if low is not None:
            conditions.append(column >= low)
        if high is not None:
            conditions.append(column < high)
    if where.unassigned is not None:
        conditions.append(
            tickets.c.assignee_id.is_(None)
            if where.unassigned
            else tickets.c.assignee_id.is_not(None)
        )
    if where.sla == "breached":
        conditions.append(tickets.c.sla_breached == true())
    elif where.sla == "at_risk":
        if where.now is None:
            raise ValueError("sla=at_risk needs the instant to count from")
        conditions.append(_at_risk(where.now))
    if where.text:
        conditions.append(tickets.c.search_text.contains(where.text.lower(), autoescape=True))
    return conditions


def page_query(
    tenant_id: str,
    *,
    limit: int,
    after: Position | None = None,
    where: TicketFilter | None = None,
    sort: TicketSort = "created",
) -> Select[Any]:
    """The query of one page: ``created`` oldest first; ``sla`` next running deadline first,
    tickets without one last (then oldest first)."""
    query = select(tickets).where(
        tickets.c.tenant_id == tenant_id, *_narrowed(where or TicketFilter())
    )
    if after:
        query = query.where(_after(after))
    order = [tickets.c.created_at, tickets.c.id]
    if sort == "sla":
        order.insert(0, tickets.c.due_order)
    return query.order_by(*order).limit(limit)


def backlog_query(tenant_id: str, now: datetime) -> Select[Any]:
    """Count the tenant's tickets per status, priority and team, with those needing attention."""

    def counted(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    return (
        select(
            tickets.c.status,
            tickets.c.priority,
            tickets.c.team,
            func.count().label("count"),
            counted(tickets.c.assignee_id.is_(None)).label("unassigned"),
            counted(tickets.c.sla_breached == true()).label("breached"),
            counted(_at_risk(now)).label("at_risk"),
        )
        .where(tickets.c.tenant_id == tenant_id)
        .group_by(tickets.c.status, tickets.c.priority, tickets.c.team)
    )


@dataclass(frozen=True)
class BacklogRow:
    """One group of a tenant's tickets: how many, and how many of them need attention."""

    status: str
    priority: str
    team: str | None
    count: int
    unassigned: int
    breached: int
    at_risk: int


class TicketRepository:
    """Reads and writes tickets of any tenant; callers always pass the tenant."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._rows: dict[str, dict[str, Any]] = {}
        """The columns of each ticket this transaction read or wrote, as the row now holds them
        (a write locks the row until the commit; the repository lives for one transaction)."""
        self._unwritten: dict[str, dict[str, Any]] = {}
        """Changed columns ``save`` has not written yet, by ticket id."""

    async def add(self, ticket: Ticket) -> None:
        """Insert a new ticket."""
        await self.add_all([ticket])

    async def add_all(self, new: Sequence[Ticket]) -> None:
        """Insert new tickets, in one statement."""
        rows = [_ticket_values(ticket) for ticket in new]
        await insert_all(self._session, tickets, rows)
        for values in rows:
            self._rows[values["id"]] = _copied(values)

    async def get(self, tenant_id: str, ticket_id: str) -> Ticket | None:
        """The tenant's ticket with that id, or None (read once per transaction)."""
        values = self._rows.get(ticket_id)
        if values is None:
            row = (
                await self._session.execute(
                    _SELECT_TICKET, {"ticket_key": ticket_id, "tenant_key": tenant_id}
                )
            ).first()
            if row is None:
                return None
            values = self._rows[ticket_id] = dict(row._mapping)
        return _ticket_from(values) if values["tenant_id"] == tenant_id else None

    async def load(self, ticket_ids: Iterable[str]) -> None:
        """Read these tickets in one statement (those not read yet), for ``get`` to find: the
        tickets a batch of events touches cost one SELECT, not one each. ``get`` still answers
        only for the ticket's own tenant."""
        wanted = [
            ticket_id for ticket_id in dict.fromkeys(ticket_ids) if ticket_id not in self._rows
        ]
        if not wanted:
            return
        for row in await self._session.execute(_SELECT_TICKETS, {"ticket_keys": wanted}):
            values = dict(row._mapping)
            self._rows[values["id"]] = values

    async def save(self, ticket: Ticket) -> None:
        """Write back the columns of a changed ticket that differ from its row (none: nothing
        is written); the row ends as a write of every column would leave it.

        A ticket read in this transaction is written by ``flush`` (at the commit, or before
        this repository next queries the table): the changes of every ticket a batch of events
        touched then cost one statement.
        """
        values = _ticket_values(ticket)
        stored = self._rows.get(ticket.id)
        if stored is None:
            del values["id"]
            await self._session.execute(_UPDATE_TICKET, {"ticket_key": ticket.id, **values})
            return
        changed = {name: value for name, value in values.items() if stored.get(name) != value}
        stored.update(_copied(changed))
        if changed:
            self._unwritten.setdefault(ticket.id, {}).update(_copied(changed))

    def discard(self) -> None:
        """Forget what ``save`` left unwritten (the transaction rolled back)."""
        self._unwritten = {}

    async def flush(self) -> None:
        """Write what ``save`` left unwritten: one statement per set of changed columns."""
        unwritten, self._unwritten = self._unwritten, {}
        if not unwritten:
            return
        postgres = self._session.get_bind().dialect.name == "postgresql"
        key = "id" if postgres else "ticket_key"
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for ticket_id in sorted(unwritten):  # one lock order for every writer
            changed = unwritten[ticket_id]
            by_columns.setdefault(tuple(sorted(changed)), []).append({key: ticket_id, **changed})
        for names, rows in by_columns.items():
            if postgres:
                await self._session.execute(
                    _update_tickets_pg(names),
                    unnest_parameters(tickets, "u", rows, ("id", *names)),
                )
            else:
                await self._session.execute(_UPDATE_TICKET, rows)

    async def page(
        self,
        tenant_id: str,
        *,
        limit: int,
        after: Position | None = None,
        where: TicketFilter | None = None,
        sort: TicketSort = "created",
    ) -> list[Ticket]:
        """The tenant's tickets after the cursor position, filtered, in ``sort`` order."""
        await self.flush()
        rows = await self._session.execute(
            page_query(tenant_id, limit=limit, after=after, where=where, sort=sort)
        )
        return [_ticket(row) for row in rows]

    async def backlog(self, tenant_id: str, now: datetime) -> list[BacklogRow]:
        """The tenant's tickets counted by status, priority and team (one grouped query)."""
        await self.flush()
        return [
            BacklogRow(
                status=row.status,
                priority=row.priority,
                team=row.team,
                count=int(row.count),
                unassigned=int(row.unassigned),
                breached=int(row.breached),
                at_risk=int(row.at_risk),
            )
            for row in await self._session.execute(backlog_query(tenant_id, now))
        ]

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
        await self.flush()
        rows = (
            await self._session.execute(
                select(tickets)
                .where(
                    tickets.c.tenant_id == tenant_id,
                    tickets.c.id.startswith(prefix, autoescape=True),
                )
                .limit(2)
            )
        ).all()
        return _ticket(rows[0]) if len(rows) == 1 else None

    async def retarget_messages(self, source_id: str, target_id: str) -> None:
        """Move the thread ids of a merged ticket to its target, so replies land there."""
        await self._session.execute(
            update(thread_ids)
            .where(thread_ids.c.ticket_id == source_id)
            .values(ticket_id=target_id)
        )

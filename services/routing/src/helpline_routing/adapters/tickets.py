"""Routed tickets (the queue is the waiting ones), offers, and each ticket's routing history.

Tickets and history steps are written behind: a unit of work keeps what its handlers wrote in
memory and ``flush`` writes it in one statement of each kind (the commit flushes), so a batch of
events costs one INSERT of new tickets, one UPDATE of changed ones and one INSERT of history
steps. A ticket this transaction wrote is read back from memory; queries over many rows flush
first. Nothing another replica could see is deferred past the commit, and capacity, the one
thing replicas race for, is still reserved at once by ``AgentRepository.reserve``.

A status change that moves no capacity is written without reading the ticket first
(``set_status_later``): at the flush one UPDATE per status sets it on every such ticket whose
row still says it moves nothing (not closed, and if assigned its load already counted as the
status counts it). A ticket the UPDATE leaves alone fails the transaction
(``StatusNeedsTheTicket``); its events replayed one per transaction read that ticket first.

A ticket routed as new is not looked for first (``is_new``): intake announces each ticket once,
and the INSERT at commit would meet one routed before (the unit of work's ``OptimisticInserts``:
the transaction fails, and its events replayed one per transaction look for the ticket first,
leaving it alone if it was routed before, as it always was).
"""

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_routing.adapters.orm import offers, routed_tickets, routing_history
from helpline_routing.domain.rules import OptionalSkill, TicketFacts
from helpline_routing.domain.tickets import RoutedTicket
from helpline_shared.runtime.db import unnest_insert, unnest_parameters
from helpline_shared.runtime.uow import LookFirst, OptimisticInserts, RowWrittenBefore

_DATA_FIELDS = tuple(
    field.name
    for field in dataclasses.fields(RoutedTicket)
    if field.name not in ("ticket_id", "tenant_id", "state", "queued_at", "agent_id")
)
_FACT_FIELDS = tuple(field.name for field in dataclasses.fields(TicketFacts))


def _data(ticket: RoutedTicket, facts: TicketFacts | None) -> dict[str, Any]:
    # By hand: ``dataclasses.asdict`` deep-copies every value, a sixth of a decision's CPU.
    data = {name: getattr(ticket, name) for name in _DATA_FIELDS}
    data["required_skills"] = dict(ticket.required_skills)
    data["released_at"] = ticket.released_at.isoformat() if ticket.released_at else None
    data["optional_skills"] = {
        skill: [wanted.level, wanted.priority] for skill, wanted in ticket.optional_skills.items()
    }
    data["facts"] = {name: getattr(facts, name) for name in _FACT_FIELDS} if facts else None
    return data


def _facts(data: dict[str, Any]) -> TicketFacts | None:
    if not data.get("facts"):
        return None
    facts = dict(data["facts"])
    facts["tags"] = tuple(facts["tags"])
    return TicketFacts(**facts)


def _row(ticket: RoutedTicket, facts: TicketFacts | None) -> dict[str, Any]:
    return {
        "ticket_id": ticket.ticket_id,
        "tenant_id": ticket.tenant_id,
        "state": ticket.state,
        "priority_rank": ticket.priority_rank,
        "queued_at": ticket.queued_at,
        "agent_id": ticket.agent_id,
        "data": _data(ticket, facts),
    }


# Built once: building and keying a statement per call cost more than running it.
_INSERT = insert(routed_tickets)
_UPDATE = (
    update(routed_tickets)
    .where(routed_tickets.c.ticket_id == bindparam("b_ticket_id"))
    .values(
        {
            name: bindparam(name)
            for name in ("state", "priority_rank", "queued_at", "agent_id", "data")
        }
    )
)
_GET = select(routed_tickets).where(routed_tickets.c.ticket_id == bindparam("ticket_id"))
_GET_LOCKED = _GET.with_for_update()
_GET_LOCKED_SKIPPING = _GET.with_for_update(skip_locked=True)
_FACTS = select(routed_tickets.c.data).where(routed_tickets.c.ticket_id == bindparam("ticket_id"))


_STATUS_WHERE = (
    " WHERE ticket_id {ids} AND state <> 'closed'"
    " AND (state <> 'assigned' OR agent_id IS NULL OR {counts} = :counts) RETURNING ticket_id"
)
_SET_STATUS = {
    "sqlite": text(
        "UPDATE routed_tickets SET data = json_set(data, '$.status', :status)"
        + _STATUS_WHERE.format(ids="IN :ids", counts="json_extract(data, '$.counts_load')")
    ).bindparams(bindparam("ids", expanding=True)),
    # One array parameter, not an IN list: an expanded list is a new text (a new prepared
    # statement, one more round trip and a plan) for every number of tickets in a batch.
    "postgresql": text(
        "UPDATE routed_tickets"
        " SET data = jsonb_set(data::jsonb, '{status}', to_jsonb(CAST(:status AS text)))::json"
        + _STATUS_WHERE.format(
            ids="= ANY(CAST(:ids AS VARCHAR[]))", counts="(data->>'counts_load')::boolean"
        )
    ),
}
"""Set one status on tickets whose row says it moves nothing else; RETURNING those set."""


_HISTORY_COLUMNS = ("tenant_id", "ticket_id", "at", "kind", "summary", "detail")
_ADDED_WITH_HISTORY = text(
    f"""
    WITH added AS ({unnest_insert(routed_tickets, "t")})
    {unnest_insert(routing_history, "h", _HISTORY_COLUMNS)}
    """
)
"""PostgreSQL: the tickets added and the history steps appended by a transaction, in one
statement whose text is the same for any batch (steps keep their order)."""


def _added_with_history(
    added: list[dict[str, Any]], steps: list[dict[str, Any]]
) -> dict[str, list[Any]]:
    return unnest_parameters(routed_tickets, "t", added) | unnest_parameters(
        routing_history, "h", steps, _HISTORY_COLUMNS
    )


class StatusNeedsTheTicket(RowWrittenBefore):
    """A status written without reading its ticket met a row it would change more of (or no
    row): the transaction fails, and its events applied again read that ticket first."""


def _ticket(row: Any) -> RoutedTicket:
    data = dict(row.data)
    data.pop("facts", None)
    released = data["released_at"]
    data["released_at"] = datetime.fromisoformat(released) if released else None
    data["required_skills"] = dict(data["required_skills"])
    data["optional_skills"] = {
        skill: OptionalSkill(level, priority)
        for skill, (level, priority) in data["optional_skills"].items()
    }
    for name in ("extra_teams", "excluded_agents", "relaxed_skills"):
        data[name] = tuple(data[name])
    return RoutedTicket(
        ticket_id=row.ticket_id,
        tenant_id=row.tenant_id,
        state=row.state,
        queued_at=row.queued_at,
        agent_id=row.agent_id,
        **data,
    )


class RoutedTicketRepository:
    """Routing's state of each ticket; the waiting ones form the queue (written behind)."""

    def __init__(
        self, session: AsyncSession, optimistic: OptimisticInserts, look_first: LookFirst
    ) -> None:
        self._session = session
        self._optimistic = optimistic
        self._look_first = look_first
        self._facts: dict[str, TicketFacts | None] = {}
        """The facts of each ticket read or written in this transaction."""
        self._new: dict[str, dict[str, Any]] = {}
        self._changed: dict[str, dict[str, Any]] = {}
        self._statuses: dict[str, tuple[str, bool]] = {}
        """Tickets whose status is written at the flush, unread: (status, its load counts)."""

    def set_status_later(self, ticket_id: str, status: str, *, counts_load: bool) -> bool:
        """Write ``status`` at the flush without reading the ticket, if its row then says the
        status moves nothing else (see the module); False when the ticket must be read now
        (this transaction holds it, or writing it unread failed before)."""
        if ticket_id in self._new or ticket_id in self._changed or ticket_id in self._statuses:
            return False
        if self._look_first.take(("status", ticket_id)):
            return False
        self._statuses[ticket_id] = (status, counts_load)
        return True

    async def _settle(self, ticket_id: str) -> None:
        if ticket_id in self._statuses:
            await self._flush_statuses()

    async def _flush_statuses(self) -> None:
        statuses, self._statuses = self._statuses, {}
        if not statuses:
            return
        statement = _SET_STATUS[self._session.get_bind().dialect.name]
        by_change: dict[tuple[str, bool], list[str]] = {}
        for ticket_id, change in statuses.items():
            by_change.setdefault(change, []).append(ticket_id)
        left: set[str] = set()
        for (status, counts), ids in by_change.items():
            params = {"ids": ids, "status": status, "counts": counts}
            rows = await self._session.execute(statement, params)
            left.update(set(ids) - {row.ticket_id for row in rows})
        if left:
            self._look_first.mark({("status", ticket_id) for ticket_id in left})
            raise StatusNeedsTheTicket(
                "set the status of tickets unread", sorted(left), LookupError(sorted(left))
            )

    async def get(
        self, ticket_id: str, *, lock: bool = False, skip_locked: bool = False
    ) -> RoutedTicket | None:
        """The ticket, locked for this transaction when ``lock`` (PostgreSQL)."""
        await self._settle(ticket_id)
        written = self._new.get(ticket_id) or self._changed.get(ticket_id)
        if written is not None:  # this transaction wrote it (so holds it): read it back
            # _ticket copies every mutable value of ``data``: the row kept stays as written.
            return _ticket(SimpleNamespace(**written))
        query = _GET if not lock else _GET_LOCKED_SKIPPING if skip_locked else _GET_LOCKED
        row = (await self._session.execute(query, {"ticket_id": ticket_id})).first()
        if row is None:
            return None
        self._facts[ticket_id] = _facts(row.data)
        return _ticket(row)

    async def is_new(self, ticket_id: str) -> bool:
        """Whether the ticket was never routed: looked for only if an INSERT met it before, or
        this transaction wrote it; else the INSERT at commit checks it (see the module)."""
        if ticket_id in self._new or ticket_id in self._changed:
            return False
        await self._settle(ticket_id)
        if self._optimistic.without_looking(ticket_id):
            return True
        return await self.get(ticket_id) is None

    async def facts(self, ticket_id: str) -> TicketFacts | None:
        """What the rules look at, as the ticket last said."""
        if ticket_id in self._facts:
            return self._facts[ticket_id]
        await self._settle(ticket_id)
        row = (await self._session.execute(_FACTS, {"ticket_id": ticket_id})).first()
        return _facts(row.data) if row is not None else None

    async def add(self, ticket: RoutedTicket, facts: TicketFacts) -> None:
        """Start routing a ticket."""
        self._facts[ticket.ticket_id] = facts
        self._new[ticket.ticket_id] = _row(ticket, facts)

    async def save(self, ticket: RoutedTicket, facts: TicketFacts | None = None) -> None:
        """Store the ticket's new state (and new facts, if given)."""
        await self._settle(ticket.ticket_id)
        facts = facts or await self.facts(ticket.ticket_id)
        self._facts[ticket.ticket_id] = facts
        row = _row(ticket, facts)
        if ticket.ticket_id in self._new:
            self._new[ticket.ticket_id] = row
        else:
            self._changed[ticket.ticket_id] = row

    def discard(self) -> None:
        """Forget the tickets added and changed so far (the transaction rolled back)."""
        self._new, self._changed, self._statuses = {}, {}, {}

    async def flush(self, steps: list[dict[str, Any]] | None = None) -> None:
        """Write the tickets added and changed so far: one statement for each kind (and one per
        status written unread); on PostgreSQL, given ``steps`` (history rows), the tickets added
        and the steps in one statement."""
        await self._flush_statuses()
        added, self._new = list(self._new.values()), {}
        changed, self._changed = self._changed, {}
        if steps is not None and (added or steps):
            await self._optimistic.execute(
                self._session, _ADDED_WITH_HISTORY, [_added_with_history(added, steps)]
            )
        elif added:
            await self._optimistic.execute(self._session, _INSERT, added)
        if changed:
            await self._session.execute(
                _UPDATE,
                [
                    {**{k: v for k, v in row.items() if k != "ticket_id"}, "b_ticket_id": key}
                    for key, row in changed.items()
                ],
            )

    async def waiting(self, tenant_id: str, limit: int = 500) -> list[RoutedTicket]:
        """The tenant's queue: highest priority first, then oldest."""
        await self.flush()
        rows = await self._session.execute(
            select(routed_tickets)
            .where(routed_tickets.c.tenant_id == tenant_id, routed_tickets.c.state == "waiting")
            .order_by(
                routed_tickets.c.priority_rank,
                routed_tickets.c.queued_at,
                routed_tickets.c.ticket_id,
            )
            .limit(limit)
        )
        return [_ticket(row) for row in rows]

    async def tenants_waiting(self) -> list[str]:
        """Tenants with tickets in the queue."""
        await self.flush()
        rows = await self._session.execute(
            select(routed_tickets.c.tenant_id).where(routed_tickets.c.state == "waiting").distinct()
        )
        return [row.tenant_id for row in rows]

    async def assigned_by_agent(self, tenant_id: str) -> dict[str, int]:
        """How many open tickets each of the tenant's agents holds (assigned, not closed)."""
        await self.flush()
        rows = await self._session.execute(
            select(routed_tickets.c.agent_id, func.count().label("held"))
            .where(
                routed_tickets.c.tenant_id == tenant_id,
                routed_tickets.c.state == "assigned",
                routed_tickets.c.agent_id.is_not(None),
            )
            .group_by(routed_tickets.c.agent_id)
        )
        return {row.agent_id: int(row.held) for row in rows}


@dataclass(frozen=True)
class Offer:
    """A reservation of a ticket for one agent."""

    id: str
    tenant_id: str
    ticket_id: str
    agent_id: str
    state: str
    created_at: datetime
    expires_at: datetime
    explanation: dict[str, Any]
    decided_at: datetime | None = None


class OfferRepository:
    """Offers and their outcome."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, offer: Offer) -> None:
        """Record a new offer."""
        await self._session.execute(insert(offers).values(**dataclasses.asdict(offer)))

    async def get(self, offer_id: str) -> Offer | None:
        """The offer, or None."""
        row = (await self._session.execute(select(offers).where(offers.c.id == offer_id))).first()
        return Offer(**row._mapping) if row else None

    async def close(self, offer_id: str, state: str, now: datetime) -> None:
        """Record the offer's outcome."""
        await self._session.execute(
            update(offers).where(offers.c.id == offer_id).values(state=state, decided_at=now)
        )

    async def open_for_agent(self, agent_id: str) -> list[Offer]:
        """The agent's unanswered offers."""
        rows = await self._session.execute(
            select(offers).where(offers.c.agent_id == agent_id, offers.c.state == "offered")
        )
        return [Offer(**row._mapping) for row in rows]

    async def listed(
        self, tenant_id: str, *, agent_id: str | None, states: tuple[str, ...], limit: int
    ) -> list[Offer]:
        """The tenant's offers (of one agent, in ``states`` when given), newest first."""
        query = select(offers).where(offers.c.tenant_id == tenant_id)
        if agent_id is not None:
            query = query.where(offers.c.agent_id == agent_id)
        if states:
            query = query.where(offers.c.state.in_(states))
        rows = await self._session.execute(
            query.order_by(offers.c.created_at.desc(), offers.c.id.desc()).limit(limit)
        )
        return [Offer(**row._mapping) for row in rows]

    async def of_ticket(self, ticket_id: str) -> list[Offer]:
        """Every offer of the ticket, oldest first."""
        rows = await self._session.execute(
            select(offers).where(offers.c.ticket_id == ticket_id).order_by(offers.c.created_at)
        )
        return [Offer(**row._mapping) for row in rows]


@dataclass(frozen=True)
class HistoryEntry:
    """One step of a ticket's routing, with its explanation."""

    at: datetime
    kind: str
    summary: str
    detail: dict[str, Any]


_INSERT_HISTORY = insert(routing_history)


class HistoryRepository:
    """Each ticket's routing history, as ``GET /v1/tickets/{id}/routing`` shows it."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._added: list[dict[str, Any]] = []

    async def add(self, tenant_id: str, ticket_id: str, entry: HistoryEntry) -> None:
        """Append a step (written by ``flush``, in order; ``entry.detail`` must not change)."""
        self._added.append(
            {
                "tenant_id": tenant_id,
                "ticket_id": ticket_id,
                "at": entry.at,
                "kind": entry.kind,
                "summary": entry.summary,
                "detail": entry.detail,
            }
        )

    def discard(self) -> None:
        """Forget the steps appended so far (the transaction rolled back)."""
        self._added = []

    def take_added(self) -> list[dict[str, Any]]:
        """The steps appended so far, now no longer kept."""
        added, self._added = self._added, []
        return added

    async def flush(self) -> None:
        """Write the steps appended so far, in one statement."""
        added = self.take_added()
        if added:
            await self._session.execute(_INSERT_HISTORY, added)

    async def of_ticket(self, tenant_id: str, ticket_id: str) -> list[HistoryEntry]:
        """Every step of the ticket's routing, oldest first."""
        await self.flush()
        rows = await self._session.execute(
            select(routing_history)
            .where(
                routing_history.c.tenant_id == tenant_id, routing_history.c.ticket_id == ticket_id
            )
            .order_by(routing_history.c.id)
        )
        return [
            HistoryEntry(at=row.at, kind=row.kind, summary=row.summary, detail=row.detail)
            for row in rows
        ]


class TicketsWithHistory:
    """Tickets and history steps kept behind, flushed together: on PostgreSQL the tickets added
    and the steps in one statement; elsewhere one statement of each kind, as before."""

    def __init__(
        self, session: AsyncSession, tickets: RoutedTicketRepository, history: HistoryRepository
    ) -> None:
        self._session = session
        self._tickets = tickets
        self._history = history

    async def flush(self) -> None:
        """Write what both keep (tickets first)."""
        if self._session.get_bind().dialect.name != "postgresql":
            await self._tickets.flush()
            await self._history.flush()
            return
        await self._tickets.flush(self._history.take_added())

    def discard(self) -> None:
        """Forget what both keep (the transaction rolled back)."""
        self._tickets.discard()
        self._history.discard()

"""Webhook endpoints and the ticket read model in the database."""

import functools
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import fields, replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import TextClause, and_, bindparam, delete, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from helpline_notify.adapters.orm import tickets, webhook_endpoints
from helpline_notify.adapters.settings_versions import (
    SETTINGS_VERSION_OF_TENANT,
    SettingsVersions,
)
from helpline_notify.adapters.statements import ONE_ROW, dialect_name, upsert
from helpline_notify.domain.model import TicketView, WebhookEndpoint
from helpline_notify.domain.subscriptions import Filters
from helpline_shared.runtime.db import unnest_parameters, unnest_upsert

_ENDPOINT_COLUMNS = [f.name for f in fields(WebhookEndpoint)]
BATCH_TICKETS_READ = 100
"""At most this many tickets in one read (a statement per count is built and kept)."""
_NO_ENDPOINTS: tuple[WebhookEndpoint, ...] = ()
T = TypeVar("T")

_TENANT_ENDPOINTS = (
    select(webhook_endpoints)
    .where(webhook_endpoints.c.tenant_id == bindparam("tenant_id"))
    .order_by(webhook_endpoints.c.created_at, webhook_endpoints.c.id)
)
_ENDPOINTS_BY_ID = select(webhook_endpoints).where(
    webhook_endpoints.c.id.in_(bindparam("ids", expanding=True))
)
_TICKET_FOUND = and_(
    tickets.c.ticket_id == bindparam("ticket_id"), tickets.c.tenant_id == bindparam("tenant_id")
)
_TICKET = select(tickets).where(_TICKET_FOUND)


@functools.cache
def _tickets_and_settings_version(count: int) -> Any:
    """The tenant's ``count`` tickets (``ticket_0``...) if known and its settings version: the
    two reads of every consumed event that may notify, in one statement (with the batch's other
    tickets of the tenant). A row per ticket found (one, its ticket columns NULL, when none
    is), each with the version.
    Built once per count, its parameters plain (an expanding one renders the SQL again at
    every execution: as costly as a statement of its own)."""
    ids: list[BindParameter[str]] = [bindparam(f"ticket_{index}") for index in range(count)]
    return select(tickets, SETTINGS_VERSION_OF_TENANT).select_from(
        ONE_ROW.outerjoin(
            tickets,
            and_(tickets.c.ticket_id.in_(ids), tickets.c.tenant_id == bindparam("tenant_id")),
        )
    )


class ReadMemo:
    """What one transaction read, kept until a write through the same repository: a batch of
    events asks the same questions (the tenant's endpoints, the ticket) again and again."""

    def __init__(self) -> None:
        self._values: dict[tuple[Any, ...], Any] = {}

    async def get(self, key: tuple[Any, ...], load: Callable[[], Awaitable[T]]) -> T:
        """The value read under ``key`` in this transaction, read now if it was not."""
        if key not in self._values:
            self._values[key] = await load()
        value: T = self._values[key]
        return value

    def holds(self, key: tuple[Any, ...]) -> bool:
        """Whether something (None too) is held under ``key``."""
        return key in self._values

    def known(self, key: tuple[Any, ...]) -> Any:
        """The value held under ``key`` (None if nothing is), without reading."""
        return self._values.get(key)

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        """Hold ``value`` under ``key``: what this transaction just wrote."""
        self._values[key] = value

    def forget(self) -> None:
        """Drop what was read (after a write)."""
        self._values.clear()


def upsert_dialect(session: AsyncSession) -> Any:
    """The dialect module whose ``insert`` has ``on_conflict_do_*`` for this session."""
    return postgresql if session.get_bind().dialect.name == "postgresql" else sqlite


def _endpoint(row: Any) -> WebhookEndpoint:
    values = {name: getattr(row, name) for name in _ENDPOINT_COLUMNS}
    values["event_types"] = tuple(row.event_types)
    values["filters"] = Filters.of(row.filters)
    return WebhookEndpoint(**values)


def _endpoint_row(endpoint: WebhookEndpoint) -> dict[str, Any]:
    values = {name: getattr(endpoint, name) for name in _ENDPOINT_COLUMNS}
    values["event_types"] = list(endpoint.event_types)
    values["filters"] = endpoint.filters.as_dict()
    return values


class EndpointRepository:
    """Webhook endpoints of any tenant; callers always pass the tenant."""

    def __init__(self, session: AsyncSession, versions: SettingsVersions) -> None:
        self._session = session
        self._versions = versions

    async def add(self, endpoint: WebhookEndpoint) -> None:
        """Insert a new endpoint."""
        await self._versions.changed(endpoint.tenant_id)
        await self._session.execute(insert(webhook_endpoints).values(**_endpoint_row(endpoint)))

    async def save(self, endpoint: WebhookEndpoint) -> None:
        """Write every field of an existing endpoint."""
        await self._versions.changed(endpoint.tenant_id)
        await self._session.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint.id)
            .values(**_endpoint_row(endpoint))
        )

    async def remove(self, tenant_id: str, endpoint_id: str) -> bool:
        """Delete the tenant's endpoint; False if there was none."""
        await self._versions.changed(tenant_id)
        result = await self._session.execute(
            delete(webhook_endpoints).where(
                webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.tenant_id == tenant_id
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def get(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        """The tenant's endpoint with that id, if any."""
        row = (
            await self._session.execute(
                select(webhook_endpoints).where(
                    webhook_endpoints.c.id == endpoint_id,
                    webhook_endpoints.c.tenant_id == tenant_id,
                )
            )
        ).first()
        return _endpoint(row) if row else None

    async def for_tenant(self, tenant_id: str) -> list[WebhookEndpoint]:
        """The tenant's endpoints, oldest first."""
        return list(
            await self._versions.kept(
                tenant_id, "endpoints", lambda: self._for_tenant(tenant_id), _NO_ENDPOINTS
            )
        )

    async def _for_tenant(self, tenant_id: str) -> tuple[WebhookEndpoint, ...]:
        rows = await self._session.execute(_TENANT_ENDPOINTS, {"tenant_id": tenant_id})
        return tuple(_endpoint(row) for row in rows)

    async def by_ids(self, endpoint_ids: Iterable[str]) -> dict[str, WebhookEndpoint]:
        """Endpoints by id (of whichever tenant; deliveries carry their own tenant)."""
        wanted = sorted(set(endpoint_ids))
        if not wanted:
            return {}
        rows = await self._session.execute(_ENDPOINTS_BY_ID, {"ids": wanted})
        return {endpoint.id: endpoint for endpoint in map(_endpoint, rows)}

    async def disable(self, endpoint_id: str, reason: str = "disabled") -> None:
        """Stop delivering to an endpoint."""
        await self._versions.endpoint_changed(endpoint_id)
        await self._session.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint_id)
            .values(enabled=False, disabled_reason=reason[:500])
        )

    async def mark_failing(self, endpoint_id: str, since: datetime | None) -> None:
        """Record since when every attempt to the endpoint failed (None: it works again)."""
        await self._versions.endpoint_changed(endpoint_id)
        await self._session.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint_id)
            .values(failing_since=since)
        )


_TICKET_COLUMNS = [f.name for f in fields(TicketView)]


@functools.cache
def _upsert_tickets_pg(columns: tuple[str, ...]) -> TextClause:
    """PostgreSQL: what a batch learnt of these columns of its tickets, in one statement."""
    return text(
        unnest_upsert(tickets, "v", ("ticket_id", "tenant_id", *columns), ("ticket_id",), columns)
    )


class TicketViewRepository:
    """Notify's read model of tickets, fed by events that may arrive in any order."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._known: dict[tuple[str, str], TicketView | None] = {}
        self._changed: dict[tuple[str, str], dict[str, Any]] = {}

    async def remember(self, tenant_id: str, ticket_id: str, known: dict[str, Any]) -> None:
        """Set some of the ticket's known attributes (creating the row on first sight). Written
        by ``flush`` (the unit of work's commit): one statement per ticket however many of a
        batch's events taught something; ``get`` sees it at once. The row is not read for this
        (the upsert sets only these columns)."""
        key = (tenant_id, ticket_id)
        values = {**known, **({"thread": tuple(known["thread"])} if "thread" in known else {})}
        view = self._known.get(key)
        if view is not None or key in self._known:
            self._known[key] = replace(
                view or TicketView(ticket_id=ticket_id, tenant_id=tenant_id), **values
            )
        self._changed.setdefault(key, {}).update(values)

    async def flush(self) -> None:
        """Write what ``remember`` learnt: on PostgreSQL one upsert of arrays per set of
        columns learnt (the batch's tickets together), elsewhere one upsert per ticket."""
        changed, self._changed = self._changed, {}
        dialect = dialect_name(self._session)
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for (tenant_id, ticket_id), known in changed.items():
            values = {
                name: list(value) if name == "thread" else value for name, value in known.items()
            }
            by_columns.setdefault(tuple(sorted(values)), []).append(
                {"ticket_id": ticket_id, "tenant_id": tenant_id, **values}
            )
        for columns, rows in by_columns.items():
            # The key is the ticket id alone: the same id under two tenants (never made by
            # intake) would be one row twice in one upsert, which PostgreSQL refuses.
            if dialect == "postgresql" and len({row["ticket_id"] for row in rows}) == len(rows):
                await self._session.execute(
                    _upsert_tickets_pg(columns),
                    unnest_parameters(tickets, "v", rows, ("ticket_id", "tenant_id", *columns)),
                )
                continue
            statement = upsert(dialect, tickets, ["ticket_id"], columns)
            for row in rows:
                await self._session.execute(statement, row)

    def discard(self) -> None:
        """Forget what was learnt and read (the transaction rolled back)."""
        self._changed = {}
        self._known = {}

    async def get(self, tenant_id: str, ticket_id: str) -> TicketView | None:
        """What notify knows of the tenant's ticket, if anything (what this transaction learnt
        included)."""
        key = (tenant_id, ticket_id)
        if key not in self._known:
            self._keep(key, await self._read(tenant_id, ticket_id))
        return self._known[key]

    def _keep(self, key: tuple[str, str], view: TicketView | None) -> None:
        learnt = self._changed.get(key)
        if learnt:
            view = replace(view or TicketView(ticket_id=key[1], tenant_id=key[0]), **learnt)
        self._known[key] = view

    async def get_with_settings_version(
        self,
        tenant_id: str,
        ticket_id: str,
        versions: SettingsVersions,
        *,
        needed: bool = True,
        along: Iterable[str] = (),
    ) -> TicketView | None:
        """What ``get`` returns, reading the ticket together with its tenant's settings version
        when this transaction has read neither (``versions`` then answers without a statement).
        Not ``needed``: None rather than a statement of its own for the ticket. That statement
        also reads the tenant's tickets ``along`` (the other tickets of the batch), so that
        their events find them read."""
        key = (tenant_id, ticket_id)
        if key in self._known:
            return self._known[key]
        if versions.holds(tenant_id):
            return await self.get(tenant_id, ticket_id) if needed else None
        others = [
            other
            for other in dict.fromkeys(along)
            if other != ticket_id and (tenant_id, other) not in self._known
        ]
        wanted = (ticket_id, *others[: BATCH_TICKETS_READ - 1])
        parameters = {f"ticket_{index}": read for index, read in enumerate(wanted)}
        rows = (
            await self._session.execute(
                _tickets_and_settings_version(len(wanted)), {**parameters, "tenant_id": tenant_id}
            )
        ).all()
        versions.hold(tenant_id, rows[0].settings_version)
        found = {row.ticket_id: row for row in rows if row.ticket_id is not None}
        for read in wanted:
            self._keep((tenant_id, read), self._view(found.get(read)))
        return self._known[key]

    async def _read(self, tenant_id: str, ticket_id: str) -> TicketView | None:
        row = (
            await self._session.execute(_TICKET, {"ticket_id": ticket_id, "tenant_id": tenant_id})
        ).first()
        return self._view(row)

    @staticmethod
    def _view(row: Any) -> TicketView | None:
        if row is None:
            return None
        view = TicketView(**{name: getattr(row, name) for name in _TICKET_COLUMNS})
        return replace(view, thread=tuple(row.thread or ()))

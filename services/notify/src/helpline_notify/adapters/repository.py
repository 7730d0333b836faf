"""Endpoints, the ticket read model and the delivery ledger in the database."""

from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_notify.adapters.orm import deliveries, tickets, webhook_endpoints
from helpline_notify.domain.model import Delivery, TicketView, WebhookEndpoint

_DELIVERY_COLUMNS = [f.name for f in fields(Delivery) if f.name != "lease_until"]


def _upsert_dialect(session: AsyncSession) -> Any:
    return postgresql if session.get_bind().dialect.name == "postgresql" else sqlite


def _endpoint(row: Any) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row.id, tenant_id=row.tenant_id, url=row.url, secret=row.secret,
        event_types=tuple(row.event_types), enabled=row.enabled, created_at=row.created_at,
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(**{name: getattr(row, name) for name in _DELIVERY_COLUMNS})


class EndpointRepository:
    """Webhook endpoints of any tenant; callers always pass the tenant."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, endpoint: WebhookEndpoint) -> None:
        """Insert a new endpoint."""
        await self._session.execute(
            insert(webhook_endpoints).values(
                id=endpoint.id, tenant_id=endpoint.tenant_id, url=endpoint.url,
                secret=endpoint.secret, event_types=list(endpoint.event_types),
                enabled=endpoint.enabled, created_at=endpoint.created_at,
            )
        )

    async def get(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        """The tenant's endpoint with that id, if any."""
        row = (
            await self._session.execute(
                select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id,
                                                webhook_endpoints.c.tenant_id == tenant_id)
            )
        ).first()
        return _endpoint(row) if row else None

    async def for_tenant(self, tenant_id: str) -> list[WebhookEndpoint]:
        """The tenant's endpoints, oldest first."""
        rows = await self._session.execute(
            select(webhook_endpoints)
            .where(webhook_endpoints.c.tenant_id == tenant_id)
            .order_by(webhook_endpoints.c.created_at, webhook_endpoints.c.id)
        )
        return [_endpoint(row) for row in rows]

    async def subscribed(self, tenant_id: str, event_type: str) -> list[WebhookEndpoint]:
        """The tenant's enabled endpoints that want events of ``event_type``."""
        rows = await self._session.execute(
            select(webhook_endpoints).where(webhook_endpoints.c.tenant_id == tenant_id,
                                            webhook_endpoints.c.enabled.is_(True))
        )
        return [endpoint for endpoint in map(_endpoint, rows) if endpoint.wants(event_type)]

    async def by_ids(self, endpoint_ids: Iterable[str]) -> dict[str, WebhookEndpoint]:
        """Endpoints by id (of whichever tenant; deliveries carry their own tenant)."""
        wanted = sorted(set(endpoint_ids))
        if not wanted:
            return {}
        rows = await self._session.execute(
            select(webhook_endpoints).where(webhook_endpoints.c.id.in_(wanted))
        )
        return {endpoint.id: endpoint for endpoint in map(_endpoint, rows)}

    async def disable(self, endpoint_id: str) -> None:
        """Stop delivering to an endpoint."""
        await self._session.execute(
            update(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
            .values(enabled=False)
        )


class TicketViewRepository:
    """Notify's read model of tickets, fed by events that may arrive in any order."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _upsert(self, ticket_id: str, tenant_id: str, values: dict[str, str | None]
                      ) -> None:
        statement = _upsert_dialect(self._session).insert(tickets).values(
            ticket_id=ticket_id, tenant_id=tenant_id, **values
        )
        await self._session.execute(
            statement.on_conflict_do_update(index_elements=["ticket_id"], set_=values)
        )

    async def record_created(self, tenant_id: str, ticket_id: str, *, subject: str,
                             requester_email: str) -> None:
        """Remember a ticket's subject and requester."""
        await self._upsert(ticket_id, tenant_id,
                           {"subject": subject, "requester_email": requester_email})

    async def record_assignment(self, tenant_id: str, ticket_id: str, *, agent_id: str,
                                agent_name: str, agent_email: str) -> None:
        """Remember who a ticket is assigned to."""
        await self._upsert(ticket_id, tenant_id, {"assignee_id": agent_id,
                                                  "assignee_name": agent_name,
                                                  "assignee_email": agent_email})

    async def get(self, tenant_id: str, ticket_id: str) -> TicketView | None:
        """What notify knows of the tenant's ticket, if anything."""
        row = (
            await self._session.execute(
                select(tickets).where(tickets.c.ticket_id == ticket_id,
                                      tickets.c.tenant_id == tenant_id)
            )
        ).first()
        return TicketView(**row._mapping) if row else None


class DeliveryRepository:
    """The delivery ledger: one row per notification, updated after each attempt."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_all(self, new_deliveries: Sequence[Delivery]) -> None:
        """Insert deliveries; one that already exists (same event, channel, destination) stays."""
        if not new_deliveries:
            return
        rows = [{name: getattr(item, name) for name in _DELIVERY_COLUMNS}
                for item in new_deliveries]
        statement = _upsert_dialect(self._session).insert(deliveries).on_conflict_do_nothing()
        await self._session.execute(statement, rows)

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int
                        ) -> list[Delivery]:
        """Take up to ``limit`` due deliveries, each leased until ``lease_until``."""
        rows = await self._session.execute(
            select(deliveries)
            .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
            .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claimed = [_delivery(row) for row in rows]
        for delivery in claimed:
            delivery.begin_attempt(lease_until)
        if claimed:
            await self._session.execute(
                update(deliveries)
                .where(deliveries.c.id.in_([delivery.id for delivery in claimed]))
                .values(attempts=deliveries.c.attempts + 1, next_attempt_at=lease_until)
            )
        return claimed

    async def save_attempt(self, delivery: Delivery) -> bool:
        """Write an attempt's result; False if another worker has taken the delivery since."""
        result = await self._session.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery.id, deliveries.c.status == "pending",
                   deliveries.c.attempts == delivery.attempts)
            .values(status=delivery.status, next_attempt_at=delivery.next_attempt_at,
                    last_error=delivery.last_error, delivered_at=delivery.delivered_at)
        )
        return bool(getattr(result, "rowcount", 0))

    async def page(self, tenant_id: str, *, ticket_id: str | None, limit: int,
                   after: tuple[datetime, str] | None = None) -> list[Delivery]:
        """The tenant's deliveries, oldest first, optionally of one ticket, after a cursor."""
        query = select(deliveries).where(deliveries.c.tenant_id == tenant_id)
        if ticket_id is not None:
            query = query.where(deliveries.c.ticket_id == ticket_id)
        if after:
            created_at, delivery_id = after
            query = query.where(
                or_(deliveries.c.created_at > created_at,
                    and_(deliveries.c.created_at == created_at, deliveries.c.id > delivery_id))
            )
        rows = await self._session.execute(
            query.order_by(deliveries.c.created_at, deliveries.c.id).limit(limit)
        )
        return [_delivery(row) for row in rows]

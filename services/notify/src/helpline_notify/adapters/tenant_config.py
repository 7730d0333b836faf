"""A tenant's notification settings in the database: subscriptions, templates, suppressions."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_notify.adapters.orm import subscriptions, suppressions, templates
from helpline_notify.adapters.repository import ReadMemo, upsert_dialect
from helpline_notify.adapters.settings_versions import SettingsVersions
from helpline_notify.domain.subscriptions import Filters, Subscription
from helpline_notify.domain.templates import TemplateSource

_NO_SUBSCRIPTIONS: tuple[Subscription, ...] = ()
_TENANT_SUBSCRIPTIONS = (
    select(subscriptions)
    .where(subscriptions.c.tenant_id == bindparam("tenant_id"))
    .order_by(subscriptions.c.created_at, subscriptions.c.id)
)
_TEMPLATE = select(templates).where(
    templates.c.tenant_id == bindparam("tenant_id"),
    templates.c.event_type == bindparam("event_type"),
    templates.c.language == bindparam("language"),
)
_SUPPRESSION_REASON = select(suppressions.c.reason).where(
    suppressions.c.tenant_id == bindparam("tenant_id"),
    suppressions.c.address == func.lower(bindparam("address")),
)
_SUPPRESSIONS_OF = select(suppressions).where(
    suppressions.c.tenant_id.in_(bindparam("tenants", expanding=True)),
    suppressions.c.address.in_(bindparam("addresses", expanding=True)),
)


def _subscription(row: Any) -> Subscription:
    return Subscription(
        id=row.id,
        tenant_id=row.tenant_id,
        event_types=tuple(row.event_types),
        channel=row.channel,
        filters=Filters.of(row.filters),
        roles=tuple(row.roles),
        addresses=tuple(row.addresses),
        endpoint_ids=tuple(row.endpoint_ids),
        created_at=row.created_at,
    )


class SubscriptionRepository:
    """Subscriptions per tenant."""

    def __init__(self, session: AsyncSession, versions: SettingsVersions) -> None:
        self._session = session
        self._versions = versions

    async def add(self, subscription: Subscription) -> None:
        """Insert a subscription."""
        await self._versions.changed(subscription.tenant_id)
        await self._session.execute(
            insert(subscriptions).values(
                id=subscription.id,
                tenant_id=subscription.tenant_id,
                event_types=list(subscription.event_types),
                filters=subscription.filters.as_dict(),
                channel=subscription.channel,
                roles=list(subscription.roles),
                addresses=list(subscription.addresses),
                endpoint_ids=list(subscription.endpoint_ids),
                created_at=subscription.created_at,
            )
        )

    async def for_tenant(self, tenant_id: str) -> list[Subscription]:
        """The tenant's subscriptions, oldest first."""
        return list(
            await self._versions.kept(
                tenant_id, "subscriptions", lambda: self._for_tenant(tenant_id), _NO_SUBSCRIPTIONS
            )
        )

    async def _for_tenant(self, tenant_id: str) -> tuple[Subscription, ...]:
        rows = await self._session.execute(_TENANT_SUBSCRIPTIONS, {"tenant_id": tenant_id})
        return tuple(_subscription(row) for row in rows)

    async def remove(self, tenant_id: str, subscription_id: str) -> bool:
        """Delete the tenant's subscription; False if there was none."""
        await self._versions.changed(tenant_id)
        result = await self._session.execute(
            delete(subscriptions).where(
                subscriptions.c.id == subscription_id, subscriptions.c.tenant_id == tenant_id
            )
        )
        return bool(getattr(result, "rowcount", 0))


class TemplateRepository:
    """Templates per tenant, event type and language."""

    def __init__(self, session: AsyncSession, versions: SettingsVersions) -> None:
        self._session = session
        self._versions = versions

    async def put(
        self, tenant_id: str, event_type: str, language: str, source: TemplateSource, now: datetime
    ) -> None:
        """Create or replace a template."""
        await self._versions.changed(tenant_id)
        values = {
            "subject": source.subject,
            "text": source.text,
            "html": source.html,
            "updated_at": now,
        }
        statement = (
            upsert_dialect(self._session)
            .insert(templates)
            .values(tenant_id=tenant_id, event_type=event_type, language=language, **values)
        )
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=["tenant_id", "event_type", "language"], set_=values
            )
        )

    async def get(self, tenant_id: str, event_type: str, language: str) -> TemplateSource | None:
        """The tenant's own template for the event type and language, if any."""
        return await self._versions.kept(
            tenant_id,
            ("template", event_type, language),
            lambda: self._get(tenant_id, event_type, language),
            None,
        )

    async def _get(self, tenant_id: str, event_type: str, language: str) -> TemplateSource | None:
        row = (
            await self._session.execute(
                _TEMPLATE,
                {"tenant_id": tenant_id, "event_type": event_type, "language": language},
            )
        ).first()
        return TemplateSource(subject=row.subject, text=row.text, html=row.html) if row else None

    async def for_tenant(self, tenant_id: str) -> list[tuple[str, str, TemplateSource]]:
        """The tenant's templates as (event type, language, source)."""
        rows = await self._session.execute(
            select(templates)
            .where(templates.c.tenant_id == tenant_id)
            .order_by(templates.c.event_type, templates.c.language)
        )
        return [
            (
                row.event_type,
                row.language,
                TemplateSource(subject=row.subject, text=row.text, html=row.html),
            )
            for row in rows
        ]

    async def remove(self, tenant_id: str, event_type: str, language: str) -> bool:
        """Delete a template; False if there was none."""
        await self._versions.changed(tenant_id)
        result = await self._session.execute(
            delete(templates).where(
                templates.c.tenant_id == tenant_id,
                templates.c.event_type == event_type,
                templates.c.language == language,
            )
        )
        return bool(getattr(result, "rowcount", 0))


class SuppressionRepository:
    """Addresses a tenant's mail must not go to (fed by bounces)."""

    def __init__(self, session: AsyncSession, versions: SettingsVersions) -> None:
        self._session = session
        self._memo = ReadMemo()
        self._versions = versions

    async def add(self, tenant_id: str, address: str, reason: str, now: datetime) -> None:
        """Suppress an address (keeping the first reason if it was already suppressed)."""
        self._memo.forget()
        await self._versions.changed(tenant_id)  # recipients are kept per settings version
        statement = (
            upsert_dialect(self._session)
            .insert(suppressions)
            .values(
                tenant_id=tenant_id, address=address.lower(), reason=reason[:500], created_at=now
            )
        )
        await self._session.execute(statement.on_conflict_do_nothing())

    async def reason(self, tenant_id: str, address: str) -> str | None:
        """Why the address is suppressed, or None when mail may go to it."""
        return await self._memo.get(
            (tenant_id, address.lower()), lambda: self._read_reason(tenant_id, address)
        )

    def holds(self, tenant_id: str, address: str) -> bool:
        """Whether this transaction already knows if the address is suppressed."""
        return self._memo.holds((tenant_id, address.lower()))

    def hold(self, tenant_id: str, address: str, reason: str | None) -> None:
        """Keep what another statement of this transaction read of the address."""
        self._memo.put((tenant_id, address.lower()), reason)

    async def _read_reason(self, tenant_id: str, address: str) -> str | None:
        return await self._session.scalar(
            _SUPPRESSION_REASON, {"tenant_id": tenant_id, "address": address}
        )

    async def reasons(self, addresses: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """Why each suppressed (tenant, address) of ``addresses`` is, in one query; keys are
        lower-cased, and addresses that may be mailed are absent."""
        wanted = {(tenant_id, address.lower()) for tenant_id, address in addresses}
        if not wanted:
            return {}
        rows = await self._session.execute(
            _SUPPRESSIONS_OF,
            {
                "tenants": sorted({tenant_id for tenant_id, _ in wanted}),
                "addresses": sorted({address for _, address in wanted}),
            },
        )
        return {
            (row.tenant_id, row.address): row.reason
            for row in rows
            if (row.tenant_id, row.address) in wanted
        }

    async def for_tenant(self, tenant_id: str) -> list[tuple[str, str, datetime]]:
        """The tenant's suppressed addresses as (address, reason, since)."""
        rows = await self._session.execute(
            select(suppressions)
            .where(suppressions.c.tenant_id == tenant_id)
            .order_by(suppressions.c.address)
        )
        return [(row.address, row.reason, row.created_at) for row in rows]

    async def remove(self, tenant_id: str, address: str) -> bool:
        """Allow mail to the address again; False if it was not suppressed."""
        self._memo.forget()
        await self._versions.changed(tenant_id)
        result = await self._session.execute(
            delete(suppressions).where(
                suppressions.c.tenant_id == tenant_id, suppressions.c.address == address.lower()
            )
        )
        return bool(getattr(result, "rowcount", 0))

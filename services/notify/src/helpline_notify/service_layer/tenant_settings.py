"""Use cases of a tenant's notification settings: subscriptions, templates, suppressions."""

from datetime import datetime

from helpline_notify.domain.errors import (
    InvalidSubscription,
    SubscriptionNotFound,
    UnknownEventType,
)
from helpline_notify.domain.subscriptions import Subscription
from helpline_notify.domain.templates import TemplateSource, sample_context
from helpline_notify.service_layer.endpoints import check_event_types
from helpline_notify.service_layer.ports import TemplateRenderer
from helpline_notify.service_layer.unit_of_work import NotifyUnitOfWork
from helpline_shared.runtime.db import utcnow


async def add_subscription(subscription: Subscription, uow: NotifyUnitOfWork) -> Subscription:
    """Store a subscription whose patterns match known event types and endpoints exist."""
    check_event_types(subscription.event_types)
    async with uow:
        for endpoint_id in subscription.endpoint_ids:
            if await uow.endpoints.get(subscription.tenant_id, endpoint_id) is None:
                raise InvalidSubscription(f"endpoint_ids: no endpoint {endpoint_id}")
        await uow.subscriptions.add(subscription)
        await uow.commit()
    return subscription


async def list_subscriptions(tenant_id: str, uow: NotifyUnitOfWork) -> list[Subscription]:
    """The tenant's subscriptions."""
    async with uow:
        return await uow.subscriptions.for_tenant(tenant_id)


async def remove_subscription(tenant_id: str, subscription_id: str, uow: NotifyUnitOfWork) -> None:
    """Delete a subscription, or ``SubscriptionNotFound``."""
    async with uow:
        if not await uow.subscriptions.remove(tenant_id, subscription_id):
            raise SubscriptionNotFound(subscription_id)
        await uow.commit()


async def put_template(
    tenant_id: str,
    event_type: str,
    language: str,
    source: TemplateSource,
    renderer: TemplateRenderer,
    uow: NotifyUnitOfWork,
) -> None:
    """Store the tenant's template once it compiles and renders sample data within the limits."""
    if event_type not in check_event_types((event_type,)) or "*" in event_type:
        raise UnknownEventType(event_type)
    await renderer.check(source, sample_context(event_type))
    async with uow:
        await uow.templates.put(tenant_id, event_type, language, source, utcnow())
        await uow.commit()


async def list_templates(
    tenant_id: str, uow: NotifyUnitOfWork
) -> list[tuple[str, str, TemplateSource]]:
    """The tenant's own templates (defaults apply to every other event type and language)."""
    async with uow:
        return await uow.templates.for_tenant(tenant_id)


async def remove_template(
    tenant_id: str, event_type: str, language: str, uow: NotifyUnitOfWork
) -> bool:
    """Delete the tenant's template (the default applies again)."""
    async with uow:
        removed = await uow.templates.remove(tenant_id, event_type, language)
        await uow.commit()
    return removed


async def suppress_address(
    tenant_id: str, address: str, reason: str, uow: NotifyUnitOfWork
) -> None:
    """Stop all mail of the tenant to an address."""
    async with uow:
        await uow.suppressions.add(tenant_id, address, reason, utcnow())
        await uow.commit()


async def list_suppressions(
    tenant_id: str, uow: NotifyUnitOfWork
) -> list[tuple[str, str, datetime]]:
    """The tenant's suppressed addresses."""
    async with uow:
        return await uow.suppressions.for_tenant(tenant_id)


async def unsuppress_address(tenant_id: str, address: str, uow: NotifyUnitOfWork) -> bool:
    """Allow mail to an address again."""
    async with uow:
        removed = await uow.suppressions.remove(tenant_id, address)
        await uow.commit()
    return removed

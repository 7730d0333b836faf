"""Use cases of webhook endpoints: register, change, rotate, delete, resend and replay."""

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from helpline_notify.domain.destinations import validate_webhook_url
from helpline_notify.domain.errors import (
    DeliveryNotFound,
    EndpointNotFound,
    NotCancellable,
    NotResendable,
    UnknownEventType,
)
from helpline_notify.domain.model import (
    OPERATOR_CANCELLED,
    Delivery,
    WebhookEndpoint,
    new_id,
    new_webhook_secret,
)
from helpline_notify.domain.planning import NOT_NOTIFIED_PREFIX
from helpline_notify.domain.subscriptions import Filters, matches_any
from helpline_notify.domain.templates import DEFAULT_TEMPLATES
from helpline_notify.service_layer.outcomes import cancelled_event
from helpline_notify.service_layer.unit_of_work import NotifyUnitOfWork
from helpline_shared.envelope import derived_event_id
from helpline_shared.events import EVENT_TYPES
from helpline_shared.runtime.db import utcnow

NOTIFIABLE_EVENT_TYPES: tuple[str, ...] = tuple(
    sorted(
        event_type
        for event_type in {*EVENT_TYPES, *DEFAULT_TEMPLATES}
        if event_type.startswith("helpline.") and not event_type.startswith(NOT_NOTIFIED_PREFIX)
    )
)
"""Event types that can notify (notify's own outcome events never do)."""


def check_event_types(patterns: tuple[str, ...]) -> tuple[str, ...]:
    """The patterns, deduplicated, or ``UnknownEventType`` naming those matching no type."""
    unknown = [
        pattern
        for pattern in patterns
        if not any(matches_any((pattern,), known) for known in NOTIFIABLE_EVENT_TYPES)
    ]
    if unknown:
        raise UnknownEventType(", ".join(sorted(unknown)))
    return tuple(dict.fromkeys(patterns))


@dataclass(frozen=True)
class RegisterWebhookEndpoint:
    """Start sending a tenant's events of some types to a URL."""

    tenant_id: str
    url: str
    event_types: tuple[str, ...]
    allow_private_networks: bool
    ordered: bool = False
    owner_email: str | None = None
    filters: Filters = field(default_factory=Filters)
    personal_data: bool = True


@dataclass(frozen=True)
class ChangeWebhookEndpoint:
    """Change some settings of an endpoint; None leaves a setting as it is."""

    tenant_id: str
    endpoint_id: str
    allow_private_networks: bool
    url: str | None = None
    event_types: tuple[str, ...] | None = None
    enabled: bool | None = None
    ordered: bool | None = None
    owner_email: str | None = None
    filters: Filters | None = None
    personal_data: bool | None = None


async def register_webhook_endpoint(
    command: RegisterWebhookEndpoint, uow: NotifyUnitOfWork
) -> WebhookEndpoint:
    """Create the endpoint with a fresh signing secret."""
    endpoint = WebhookEndpoint(
        id=new_id(),
        tenant_id=command.tenant_id,
        url=validate_webhook_url(
            command.url, allow_private_networks=command.allow_private_networks
        ),
        secret=new_webhook_secret(),
        event_types=check_event_types(command.event_types),
        enabled=True,
        created_at=utcnow(),
        ordered=command.ordered,
        owner_email=command.owner_email,
        filters=command.filters,
        personal_data=command.personal_data,
    )
    async with uow:
        await uow.endpoints.add(endpoint)
        await uow.commit()
    return endpoint


async def get_webhook_endpoint(
    tenant_id: str, endpoint_id: str, uow: NotifyUnitOfWork
) -> WebhookEndpoint:
    """The tenant's endpoint, or ``EndpointNotFound`` (also for another tenant's id)."""
    async with uow:
        endpoint = await uow.endpoints.get(tenant_id, endpoint_id)
    if endpoint is None:
        raise EndpointNotFound(endpoint_id)
    return endpoint


async def change_webhook_endpoint(
    command: ChangeWebhookEndpoint, uow: NotifyUnitOfWork
) -> WebhookEndpoint:
    """Apply the changes; enabling an endpoint forgets its failures."""
    async with uow:
        endpoint = await uow.endpoints.get(command.tenant_id, command.endpoint_id)
        if endpoint is None:
            raise EndpointNotFound(command.endpoint_id)
        if command.url is not None:
            endpoint = replace(
                endpoint,
                url=validate_webhook_url(
                    command.url, allow_private_networks=command.allow_private_networks
                ),
            )
        if command.event_types is not None:
            endpoint = replace(endpoint, event_types=check_event_types(command.event_types))
        if command.enabled is not None:
            endpoint = replace(
                endpoint,
                enabled=command.enabled,
                failing_since=None,
                disabled_reason=None if command.enabled else "disabled by API",
            )
        if command.ordered is not None:
            endpoint = replace(endpoint, ordered=command.ordered)
        if command.owner_email is not None:
            endpoint = replace(endpoint, owner_email=command.owner_email or None)
        if command.filters is not None:
            endpoint = replace(endpoint, filters=command.filters)
        if command.personal_data is not None:
            endpoint = replace(endpoint, personal_data=command.personal_data)
        await uow.endpoints.save(endpoint)
        await uow.commit()
    return endpoint


async def rotate_secret(
    tenant_id: str, endpoint_id: str, overlap: timedelta, uow: NotifyUnitOfWork
) -> WebhookEndpoint:
    """Give the endpoint a new secret; the old one still signs for ``overlap``."""
    async with uow:
        endpoint = await uow.endpoints.get(tenant_id, endpoint_id)
        if endpoint is None:
            raise EndpointNotFound(endpoint_id)
        endpoint = replace(
            endpoint,
            secret=new_webhook_secret(),
            previous_secret=endpoint.secret,
            previous_secret_expires_at=utcnow() + overlap,
        )
        await uow.endpoints.save(endpoint)
        await uow.commit()
    return endpoint


async def delete_webhook_endpoint(tenant_id: str, endpoint_id: str, uow: NotifyUnitOfWork) -> None:
    """Remove the endpoint (its ledger stays until retention removes it)."""
    async with uow:
        if not await uow.endpoints.remove(tenant_id, endpoint_id):
            raise EndpointNotFound(endpoint_id)
        await uow.commit()


async def replay_failed(
    tenant_id: str, endpoint_id: str, since: datetime, uow: NotifyUnitOfWork
) -> int:
    """Queue again every failed or suppressed message of the endpoint since ``since``."""
    now = utcnow()
    async with uow:
        if await uow.endpoints.get(tenant_id, endpoint_id) is None:
            raise EndpointNotFound(endpoint_id)
        failed = await uow.deliveries.failed_since(tenant_id, endpoint_id, since)
        for delivery in failed:
            delivery.replay(now)
            await uow.deliveries.requeue(delivery)
        await uow.commit()
    return len(failed)


async def resend_delivery(tenant_id: str, delivery_id: str, uow: NotifyUnitOfWork) -> None:
    """Queue one message again (any status), with the same id so receivers can dedup."""
    async with uow:
        delivery = await uow.deliveries.get(tenant_id, delivery_id)
        if delivery is None:
            raise DeliveryNotFound(delivery_id)
        if not delivery.payload:
            raise NotResendable(delivery_id)
        if delivery.status != "pending":
            delivery.replay(utcnow())
            await uow.deliveries.requeue(delivery)
        await uow.commit()


async def cancel_delivery(tenant_id: str, delivery_id: str, uow: NotifyUnitOfWork) -> Delivery:
    """End a pending delivery as failed, "cancelled by operator", and say so in an event."""
    async with uow:
        delivery = await uow.deliveries.get(tenant_id, delivery_id)
        if delivery is None:
            raise DeliveryNotFound(delivery_id)
        if delivery.status != "pending":
            raise NotCancellable(f"it is {delivery.status}")
        delivery.give_up(OPERATOR_CANCELLED)
        # Guarded like a worker's result: a send under way right now wins, and the caller hears.
        if not await uow.deliveries.save_attempt(delivery):
            raise NotCancellable("it is being sent right now; try again in a moment")
        uow.publish(
            cancelled_event(delivery, utcnow()),
            event_id=derived_event_id("notification-cancelled", delivery.id),
        )
        await uow.commit()
    return delivery

"""Notify's use cases: register endpoints, and turn events into pending deliveries."""

from collections.abc import Callable
from dataclasses import dataclass

from helpline_notify.domain.destinations import validate_webhook_url
from helpline_notify.domain.errors import EndpointNotFound, UnknownEventType
from helpline_notify.domain.model import (
    ALL_EVENT_TYPES,
    WebhookEndpoint,
    new_id,
    new_webhook_secret,
)
from helpline_notify.domain.planning import NOTIFYING_EVENT_TYPES, plan_deliveries
from helpline_notify.service_layer.unit_of_work import NotifyUnitOfWork
from helpline_shared.envelope import Envelope
from helpline_shared.events import SlaBreached, TicketAssigned, TicketCreated
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.outbox import trace_headers

CONSUMER = "notify"

UnitOfWorkFactory = Callable[[], NotifyUnitOfWork]


@dataclass(frozen=True)
class RegisterWebhookEndpoint:
    """Start sending a tenant's events of some types to a URL."""

    tenant_id: str
    url: str
    event_types: tuple[str, ...]
    allow_private_networks: bool


async def register_webhook_endpoint(command: RegisterWebhookEndpoint, uow: NotifyUnitOfWork
                                    ) -> WebhookEndpoint:
    """Create the endpoint with a fresh signing secret."""
    unknown = sorted(set(command.event_types) - {ALL_EVENT_TYPES, *NOTIFYING_EVENT_TYPES})
    if unknown:
        raise UnknownEventType(", ".join(unknown))
    url = validate_webhook_url(command.url,
                               allow_private_networks=command.allow_private_networks)
    endpoint = WebhookEndpoint(
        id=new_id(), tenant_id=command.tenant_id, url=url, secret=new_webhook_secret(),
        event_types=tuple(dict.fromkeys(command.event_types)), enabled=True,
        created_at=utcnow(),
    )
    async with uow:
        await uow.endpoints.add(endpoint)
        await uow.commit()
    return endpoint


async def get_webhook_endpoint(tenant_id: str, endpoint_id: str, uow: NotifyUnitOfWork
                               ) -> WebhookEndpoint:
    """The tenant's endpoint, or ``EndpointNotFound`` (also for another tenant's id)."""
    async with uow:
        endpoint = await uow.endpoints.get(tenant_id, endpoint_id)
    if endpoint is None:
        raise EndpointNotFound(endpoint_id)
    return endpoint


async def on_event(envelope: Envelope, uow: NotifyUnitOfWork, *, escalation_email: str) -> int:
    """Learn from the event and write the deliveries it causes; return how many were new."""
    event = envelope.event
    if not isinstance(event, TicketCreated | TicketAssigned | SlaBreached):
        return 0
    async with uow:
        if not await uow.claim_event(CONSUMER, envelope.id):
            return 0
        if isinstance(event, TicketCreated):
            await uow.tickets.record_created(
                event.tenant_id, event.ticket_id, subject=event.subject,
                requester_email=str(event.requester.email),
            )
        elif isinstance(event, TicketAssigned):
            await uow.tickets.record_assignment(
                event.tenant_id, event.ticket_id, agent_id=event.agent_id,
                agent_name=event.agent_name, agent_email=str(event.agent_email),
            )
        deliveries = plan_deliveries(
            envelope,
            await uow.tickets.get(event.tenant_id, event.ticket_id),
            await uow.endpoints.subscribed(event.tenant_id, envelope.type),
            escalation_email=escalation_email,
            # The consumer span's context: each send later continues this ticket's trace.
            trace_headers=dict(trace_headers()),
            now=utcnow(),
        )
        await uow.deliveries.add_all(deliveries)
        await uow.commit()
    return len(deliveries)

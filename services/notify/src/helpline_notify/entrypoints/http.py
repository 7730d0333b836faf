"""Notify's API: webhook endpoints and the delivery ledger. Parse, call, map the result."""

import base64
import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from helpline_notify.domain.errors import EndpointNotFound, InvalidWebhookUrl, UnknownEventType
from helpline_notify.domain.model import ALL_EVENT_TYPES, Delivery, WebhookEndpoint
from helpline_notify.service_layer import handlers
from helpline_notify.service_layer.handlers import UnitOfWorkFactory
from helpline_shared.runtime.auth import Principal, require_scope
from helpline_shared.runtime.problems import not_found


class EndpointIn(BaseModel):
    """A new webhook endpoint."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048)
    event_types: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        default_factory=lambda: [ALL_EVENT_TYPES], min_length=1, max_length=50
    )


class EndpointOut(BaseModel):
    """A webhook endpoint as the API shows it (without its secret)."""

    id: str
    url: str
    event_types: list[str]
    enabled: bool
    created_at: datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> "EndpointOut":
        """Present ``endpoint``."""
        return cls(id=endpoint.id, url=endpoint.url, event_types=list(endpoint.event_types),
                   enabled=endpoint.enabled, created_at=endpoint.created_at)


class CreatedEndpointOut(EndpointOut):
    """A new endpoint with its signing secret, shown this once."""

    secret: str


class DeliveryOut(BaseModel):
    """One entry of the delivery ledger."""

    id: str
    ticket_id: str
    channel: str
    destination: str
    trigger_event_id: str
    trigger_event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, delivery: Delivery) -> "DeliveryOut":
        """Present ``delivery``."""
        return cls(
            id=delivery.id, ticket_id=delivery.ticket_id, channel=delivery.channel,
            destination=delivery.destination, trigger_event_id=delivery.trigger_event_id,
            trigger_event_type=delivery.trigger_event_type, status=delivery.status,
            attempts=delivery.attempts, next_attempt_at=delivery.next_attempt_at,
            last_error=delivery.last_error, created_at=delivery.created_at,
            delivered_at=delivery.delivered_at,
        )


class DeliveryPage(BaseModel):
    """One page of the ledger and the cursor of the next, if any."""

    items: list[DeliveryOut]
    next_cursor: str | None


def encode_cursor(delivery: Delivery) -> str:
    """An opaque cursor pointing just after ``delivery`` in ledger order."""
    raw = json.dumps([delivery.created_at.isoformat(), delivery.id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Read a cursor made by ``encode_cursor``; ``ValueError`` if it is not one."""
    try:
        created_at, delivery_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(created_at), str(delivery_id)
    except (ValueError, TypeError) as error:
        raise ValueError("not a cursor issued by this API") from error


def router(unit_of_work: UnitOfWorkFactory, *, max_page_size: int,
           allow_private_networks: bool) -> APIRouter:
    """The ``/v1/webhook-endpoints`` and ``/v1/deliveries`` routes on ``unit_of_work``."""
    api = APIRouter(prefix="/v1")
    reader = require_scope("tickets:read")
    writer = require_scope("tickets:write")

    @api.post("/webhook-endpoints", status_code=201, response_model=CreatedEndpointOut,
              tags=["webhooks"])
    async def create_endpoint(body: EndpointIn, principal: Annotated[Principal, writer]
                              ) -> CreatedEndpointOut:
        """Register a webhook endpoint; the response carries its signing secret."""
        try:
            endpoint = await handlers.register_webhook_endpoint(
                handlers.RegisterWebhookEndpoint(
                    tenant_id=principal.tenant_id, url=body.url,
                    event_types=tuple(body.event_types),
                    allow_private_networks=allow_private_networks,
                ),
                unit_of_work(),
            )
        except InvalidWebhookUrl as error:
            raise HTTPException(422, f"url: {error}") from error
        except UnknownEventType as error:
            raise HTTPException(422, f"event_types: not notified: {error}") from error
        return CreatedEndpointOut(**EndpointOut.of(endpoint).model_dump(),
                                  secret=endpoint.secret)

    @api.get("/webhook-endpoints", response_model=list[EndpointOut], tags=["webhooks"])
    async def list_endpoints(principal: Annotated[Principal, reader]) -> list[EndpointOut]:
        """The tenant's webhook endpoints."""
        async with unit_of_work() as uow:
            endpoints = await uow.endpoints.for_tenant(principal.tenant_id)
        return [EndpointOut.of(endpoint) for endpoint in endpoints]

    @api.get("/webhook-endpoints/{endpoint_id}", response_model=EndpointOut, tags=["webhooks"])
    async def get_endpoint(endpoint_id: str, principal: Annotated[Principal, reader]
                           ) -> EndpointOut:
        """One of the tenant's webhook endpoints."""
        try:
            endpoint = await handlers.get_webhook_endpoint(principal.tenant_id, endpoint_id,
                                                           unit_of_work())
        except EndpointNotFound as error:
            raise not_found("webhook endpoint") from error
        return EndpointOut.of(endpoint)

    @api.get("/deliveries", response_model=DeliveryPage, tags=["deliveries"])
    async def list_deliveries(
        principal: Annotated[Principal, reader],
        ticket_id: str | None = None,
        cursor: str | None = None,
        limit: Annotated[int, Query(ge=1)] = 50,
    ) -> DeliveryPage:
        """The tenant's delivery ledger (optionally of one ticket), oldest first."""
        try:
            after = decode_cursor(cursor) if cursor else None
        except ValueError as error:
            raise HTTPException(400, f"cursor: {error}") from error
        page_size = min(limit, max_page_size)
        async with unit_of_work() as uow:
            deliveries = await uow.deliveries.page(
                principal.tenant_id, ticket_id=ticket_id, limit=page_size + 1, after=after
            )
        more = len(deliveries) > page_size
        deliveries = deliveries[:page_size]
        return DeliveryPage(
            items=[DeliveryOut.of(delivery) for delivery in deliveries],
            next_cursor=encode_cursor(deliveries[-1]) if more else None,
        )

    return api

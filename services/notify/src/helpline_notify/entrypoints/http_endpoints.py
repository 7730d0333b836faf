"""The ``/v1/webhook-endpoints`` routes: parse, call one use case, map the result."""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field

from helpline_notify.adapters.orm import idempotent_requests
from helpline_notify.domain.errors import EndpointNotFound, InvalidWebhookUrl, UnknownEventType
from helpline_notify.domain.model import ALL_EVENT_TYPES, WebhookEndpoint
from helpline_notify.domain.subscriptions import Filters
from helpline_notify.entrypoints.http_common import (
    ApiOptions,
    FiltersIn,
    FiltersOut,
    PathKey,
    RequestBody,
)
from helpline_notify.service_layer import endpoints as use_cases
from helpline_shared.inputs import Instant, SafeEmailAddress, SafeUrl
from helpline_shared.runtime import idempotency
from helpline_shared.runtime.auth import Principal, require
from helpline_shared.runtime.problems import not_found

EventTypes = list[Annotated[str, Field(min_length=1, max_length=128)]]


class EndpointIn(RequestBody):
    """A new webhook endpoint."""

    url: SafeUrl
    event_types: EventTypes = Field(
        default_factory=lambda: [ALL_EVENT_TYPES], min_length=1, max_length=50
    )
    ordered: bool = False
    owner_email: SafeEmailAddress | None = None
    filters: FiltersIn = Field(default_factory=FiltersIn)
    personal_data: bool = True
    """False: names, addresses and message text arrive as null."""


class EndpointChangeIn(RequestBody):
    """Changes to an endpoint; fields left out stay as they are."""

    url: SafeUrl | None = None
    event_types: EventTypes | None = Field(default=None, min_length=1, max_length=50)
    enabled: bool | None = None
    ordered: bool | None = None
    owner_email: SafeEmailAddress | Literal[""] | None = None
    """An empty string removes the owner."""
    filters: FiltersIn | None = None
    personal_data: bool | None = None


class EndpointOut(BaseModel):
    """A webhook endpoint as the API shows it (without its secret)."""

    id: str
    url: str
    event_types: list[str]
    enabled: bool
    ordered: bool
    owner_email: str | None
    filters: FiltersOut
    failing_since: datetime | None
    disabled_reason: str | None
    personal_data: bool
    created_at: datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> "EndpointOut":
        """Present ``endpoint``."""
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            event_types=list(endpoint.event_types),
            enabled=endpoint.enabled,
            ordered=endpoint.ordered,
            owner_email=endpoint.owner_email,
            filters=FiltersOut.model_validate(endpoint.filters.as_dict()),
            failing_since=endpoint.failing_since,
            disabled_reason=endpoint.disabled_reason,
            personal_data=endpoint.personal_data,
            created_at=endpoint.created_at,
        )


class CreatedEndpointOut(EndpointOut):
    """A new (or re-keyed) endpoint with its signing secret, shown this once."""

    secret: str


class ReplayIn(RequestBody):
    """Which failed messages of an endpoint to send again."""

    since: Instant


class ReplayOut(BaseModel):
    """How many messages were queued again."""

    queued: int


def _filters(body: FiltersIn | None) -> Filters | None:
    return None if body is None else Filters.of(body.model_dump())


def router(options: ApiOptions) -> APIRouter:
    """The webhook endpoint routes."""
    api = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhooks"])
    # Endpoints export every event of the tenant: admins only, reading them as well.
    manager = require("webhooks.manage")
    uow = options.unit_of_work
    idempotent = idempotency.IdempotentCreates(uow, idempotent_requests)

    def secret_out(endpoint: WebhookEndpoint) -> CreatedEndpointOut:
        return CreatedEndpointOut(**EndpointOut.of(endpoint).model_dump(), secret=endpoint.secret)

    @api.post(
        "", status_code=201, response_model=CreatedEndpointOut, responses=idempotency.RESPONSES
    )
    @idempotent
    async def create_endpoint(
        body: EndpointIn, principal: Annotated[Principal, manager]
    ) -> CreatedEndpointOut:
        """Register a webhook endpoint; the response carries its signing secret."""
        try:
            endpoint = await use_cases.register_webhook_endpoint(
                use_cases.RegisterWebhookEndpoint(
                    tenant_id=principal.tenant_id,
                    url=body.url,
                    event_types=tuple(body.event_types),
                    allow_private_networks=options.allow_private_networks,
                    ordered=body.ordered,
                    owner_email=body.owner_email,
                    filters=Filters.of(body.filters.model_dump()),
                    personal_data=body.personal_data,
                ),
                uow(),
            )
        except InvalidWebhookUrl as error:
            raise HTTPException(422, f"url: {error}") from error
        except UnknownEventType as error:
            raise HTTPException(422, f"event_types: matches no event type: {error}") from error
        return secret_out(endpoint)

    @api.get("", response_model=list[EndpointOut])
    async def list_endpoints(principal: Annotated[Principal, manager]) -> list[EndpointOut]:
        """The tenant's webhook endpoints."""
        async with uow() as unit:
            found = await unit.endpoints.for_tenant(principal.tenant_id)
        return [EndpointOut.of(endpoint) for endpoint in found]

    @api.get("/{endpoint_id}", response_model=EndpointOut)
    async def get_endpoint(
        endpoint_id: PathKey, principal: Annotated[Principal, manager]
    ) -> EndpointOut:
        """One of the tenant's webhook endpoints."""
        try:
            return EndpointOut.of(
                await use_cases.get_webhook_endpoint(principal.tenant_id, endpoint_id, uow())
            )
        except EndpointNotFound as error:
            raise not_found("webhook endpoint") from error

    @api.patch("/{endpoint_id}", response_model=EndpointOut)
    async def change_endpoint(
        endpoint_id: PathKey, body: EndpointChangeIn, principal: Annotated[Principal, manager]
    ) -> EndpointOut:
        """Change an endpoint: URL, event types, filters, ordering, owner, enabled."""
        try:
            endpoint = await use_cases.change_webhook_endpoint(
                use_cases.ChangeWebhookEndpoint(
                    tenant_id=principal.tenant_id,
                    endpoint_id=endpoint_id,
                    allow_private_networks=options.allow_private_networks,
                    url=body.url,
                    event_types=tuple(body.event_types) if body.event_types else None,
                    enabled=body.enabled,
                    ordered=body.ordered,
                    owner_email=body.owner_email,
                    filters=_filters(body.filters),
                    personal_data=body.personal_data,
                ),
                uow(),
            )
        except EndpointNotFound as error:
            raise not_found("webhook endpoint") from error
        except InvalidWebhookUrl as error:
            raise HTTPException(422, f"url: {error}") from error
        except UnknownEventType as error:
            raise HTTPException(422, f"event_types: matches no event type: {error}") from error
        return EndpointOut.of(endpoint)

    @api.post("/{endpoint_id}/disable", response_model=EndpointOut)
    async def disable_endpoint(
        endpoint_id: PathKey, principal: Annotated[Principal, manager]
    ) -> EndpointOut:
        """Stop deliveries to the endpoint (each one not sent is reported as suppressed)."""
        return await change_endpoint(endpoint_id, EndpointChangeIn(enabled=False), principal)

    @api.post("/{endpoint_id}/rotate-secret", response_model=CreatedEndpointOut)
    async def rotate_secret(
        endpoint_id: PathKey, principal: Annotated[Principal, manager]
    ) -> CreatedEndpointOut:
        """A new signing secret; the old one keeps signing during the configured overlap."""
        try:
            return secret_out(
                await use_cases.rotate_secret(
                    principal.tenant_id, endpoint_id, options.rotation_overlap, uow()
                )
            )
        except EndpointNotFound as error:
            raise not_found("webhook endpoint") from error

    @api.delete("/{endpoint_id}", status_code=204)
    async def delete_endpoint(
        endpoint_id: PathKey, principal: Annotated[Principal, manager]
    ) -> Response:
        """Remove the endpoint."""
        try:
            await use_cases.delete_webhook_endpoint(principal.tenant_id, endpoint_id, uow())
        except EndpointNotFound as error:
            raise not_found("webhook endpoint") from error
        return Response(status_code=204)

    @api.post("/{endpoint_id}/replay", status_code=202, response_model=ReplayOut)
    async def replay(
        endpoint_id: PathKey, body: ReplayIn, principal: Annotated[Principal, manager]
    ) -> ReplayOut:
        """Send again every failed message of the endpoint created since ``since``."""
        try:
            queued = await use_cases.replay_failed(
                principal.tenant_id, endpoint_id, body.since, uow()
            )
        except EndpointNotFound as error:
            raise not_found("webhook endpoint") from error
        options.wake_worker()
        return ReplayOut(queued=queued)

    return api

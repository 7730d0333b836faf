"""The tenant's notification settings over HTTP: subscriptions, templates, suppressions."""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field

from helpline_notify.adapters.orm import idempotent_requests
from helpline_notify.domain.errors import (
    InvalidSubscription,
    InvalidTemplate,
    SubscriptionNotFound,
    UnknownEventType,
)
from helpline_notify.domain.subscriptions import (
    Filters,
    Role,
    Subscription,
    new_subscription_id,
)
from helpline_notify.domain.templates import DEFAULT_TEMPLATES, TemplateSource
from helpline_notify.entrypoints.http_common import (
    ApiOptions,
    FiltersIn,
    FiltersOut,
    PathKey,
    RequestBody,
)
from helpline_notify.service_layer import tenant_settings as use_cases
from helpline_shared.inputs import SafeEmailAddress, SafeLine
from helpline_shared.runtime import idempotency
from helpline_shared.runtime.auth import Principal, require
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.problems import not_found

Address = Annotated[SafeEmailAddress, Field(pattern=r"^[^@\s<>]+@[^@\s<>]+$")]
Pattern = Annotated[str, Field(min_length=1, max_length=128)]
Language = Annotated[str, Field(min_length=2, max_length=16, pattern=r"^[A-Za-z-]+$")]


class SubscriptionIn(RequestBody):
    """Events of these types (``*`` wildcards), passing the filters, go to these recipients."""

    event_types: list[Pattern] = Field(min_length=1, max_length=50)
    channel: Literal["email", "webhook"] = "email"
    filters: FiltersIn = Field(default_factory=FiltersIn)
    roles: list[Role] = Field(default_factory=list)
    addresses: list[Address] = Field(default_factory=list, max_length=50)
    endpoint_ids: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list)


class SubscriptionOut(BaseModel):
    """A stored subscription (as it was accepted, even under older rules)."""

    id: str
    created_at: datetime | None
    event_types: list[str]
    channel: str
    filters: FiltersOut
    roles: list[str]
    addresses: list[str]
    endpoint_ids: list[str]


class TemplateIn(RequestBody):
    """Jinja2 sources of a template (sandboxed; the HTML part is autoescaped)."""

    subject: str = Field(min_length=1, max_length=2000)
    text: str = Field(min_length=1, max_length=100_000)
    html: str | None = Field(default=None, max_length=100_000)


class TemplateOut(BaseModel):
    """A template and what it is for; ``default`` when it is built in."""

    subject: str
    text: str
    html: str | None

    event_type: str
    language: str
    default: bool


class SuppressionIn(RequestBody):
    """An address to stop mailing."""

    address: Address
    reason: SafeLine = Field(default="added by API", max_length=500)


class SuppressionOut(BaseModel):
    """A suppressed address, why and since when."""

    address: str
    reason: str
    since: datetime


def router(options: ApiOptions) -> APIRouter:
    """Subscription, template and suppression routes."""
    api = APIRouter(prefix="/v1")
    subscriber = require("subscriptions.manage")
    template_reader, template_writer = require("templates.read"), require("templates.manage")
    suppressor = require("suppressions.manage")
    uow = options.unit_of_work
    idempotent = idempotency.IdempotentCreates(uow, idempotent_requests)

    def present(subscription: Subscription) -> SubscriptionOut:
        return SubscriptionOut(
            id=subscription.id,
            created_at=subscription.created_at,
            event_types=list(subscription.event_types),
            channel=subscription.channel,
            filters=FiltersOut.model_validate(subscription.filters.as_dict()),
            roles=list(subscription.roles),
            addresses=list(subscription.addresses),
            endpoint_ids=list(subscription.endpoint_ids),
        )

    @api.post(
        "/subscriptions",
        status_code=201,
        response_model=SubscriptionOut,
        tags=["subscriptions"],
        responses=idempotency.RESPONSES,
    )
    @idempotent
    async def create_subscription(
        body: SubscriptionIn, principal: Annotated[Principal, subscriber]
    ) -> SubscriptionOut:
        """Subscribe recipients (or endpoints) to event types, with filters."""
        try:
            subscription = await use_cases.add_subscription(
                Subscription(
                    id=new_subscription_id(),
                    tenant_id=principal.tenant_id,
                    event_types=tuple(body.event_types),
                    channel=body.channel,
                    filters=Filters.of(body.filters.model_dump()),
                    roles=tuple(body.roles),
                    addresses=tuple(body.addresses),
                    endpoint_ids=tuple(body.endpoint_ids),
                    created_at=utcnow(),
                ),
                uow(),
            )
        except InvalidSubscription as error:
            raise HTTPException(422, str(error)) from error
        except UnknownEventType as error:
            raise HTTPException(422, f"event_types: matches no event type: {error}") from error
        return present(subscription)

    @api.get("/subscriptions", response_model=list[SubscriptionOut], tags=["subscriptions"])
    async def list_subscriptions(
        principal: Annotated[Principal, subscriber],
    ) -> list[SubscriptionOut]:
        """The tenant's subscriptions (with none, the built-in defaults apply)."""
        return [present(s) for s in await use_cases.list_subscriptions(principal.tenant_id, uow())]

    @api.delete("/subscriptions/{subscription_id}", status_code=204, tags=["subscriptions"])
    async def delete_subscription(
        subscription_id: PathKey, principal: Annotated[Principal, subscriber]
    ) -> Response:
        """Remove a subscription."""
        try:
            await use_cases.remove_subscription(principal.tenant_id, subscription_id, uow())
        except SubscriptionNotFound as error:
            raise not_found("subscription") from error
        return Response(status_code=204)

    @api.get("/templates", response_model=list[TemplateOut], tags=["templates"])
    async def list_templates(principal: Annotated[Principal, template_reader]) -> list[TemplateOut]:
        """The tenant's templates, then the built-in defaults."""
        own = [
            TemplateOut(
                event_type=event_type,
                language=language,
                default=False,
                subject=source.subject,
                text=source.text,
                html=source.html,
            )
            for event_type, language, source in await use_cases.list_templates(
                principal.tenant_id, uow()
            )
        ]
        defaults = [
            TemplateOut(
                event_type=event_type,
                language="en",
                default=True,
                subject=source.subject,
                text=source.text,
                html=source.html,
            )
            for event_type, source in DEFAULT_TEMPLATES.items()
        ]
        return own + defaults

    @api.put("/templates/{event_type}/{language}", status_code=204, tags=["templates"])
    async def put_template(
        event_type: PathKey,
        language: Language,
        body: TemplateIn,
        principal: Annotated[Principal, template_writer],
    ) -> Response:
        """Create or replace the tenant's template of an event type in a language."""
        try:
            await use_cases.put_template(
                principal.tenant_id,
                event_type,
                language.lower(),
                TemplateSource(subject=body.subject, text=body.text, html=body.html),
                options.renderer,
                uow(),
            )
        except UnknownEventType as error:
            raise HTTPException(422, f"event_type: not a notifying event type: {error}") from error
        except InvalidTemplate as error:
            raise HTTPException(422, str(error)) from error
        return Response(status_code=204)

    @api.delete("/templates/{event_type}/{language}", status_code=204, tags=["templates"])
    async def delete_template(
        event_type: PathKey, language: PathKey, principal: Annotated[Principal, template_writer]
    ) -> Response:
        """Remove the tenant's template (the default applies again)."""
        if not await use_cases.remove_template(
            principal.tenant_id, event_type, language.lower(), uow()
        ):
            raise not_found("template")
        return Response(status_code=204)

    @api.get("/suppressions", response_model=list[SuppressionOut], tags=["suppressions"])
    async def list_suppressions(
        principal: Annotated[Principal, suppressor],
    ) -> list[SuppressionOut]:
        """Addresses the tenant's mail does not go to (bounces add them)."""
        return [
            SuppressionOut(address=address, reason=reason, since=since)
            for address, reason, since in await use_cases.list_suppressions(
                principal.tenant_id, uow()
            )
        ]

    @api.post("/suppressions", status_code=204, tags=["suppressions"])
    async def add_suppression(
        body: SuppressionIn, principal: Annotated[Principal, suppressor]
    ) -> Response:
        """Stop mailing an address."""
        await use_cases.suppress_address(principal.tenant_id, body.address, body.reason, uow())
        return Response(status_code=204)

    @api.delete("/suppressions/{address}", status_code=204, tags=["suppressions"])
    async def delete_suppression(
        address: PathKey, principal: Annotated[Principal, suppressor]
    ) -> Response:
        """Mail an address again."""
        if not await use_cases.unsuppress_address(principal.tenant_id, address, uow()):
            raise not_found("suppression")
        return Response(status_code=204)

    return api

"""The webhooks notify sends, one per event type, for the OpenAPI ``webhooks`` section.

Nothing here serves a request: the routes only document what notify POSTs to a partner's
endpoint (headers, body, which answers mean what), next to the API that registers endpoints.
"""

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel

from helpline_contracts.webhooks import HEADERS, webhook_body_model
from helpline_notify.service_layer.endpoints import NOTIFIABLE_EVENT_TYPES
from helpline_shared.events import EVENT_TYPES

RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Any 2xx within the delivery timeout (15 s by default): delivered. At "
        "most 512 bytes of the answer are read."
    },
    410: {"description": "Gone: notify disables the endpoint at once and stops sending."},
    "4XX": {
        "description": "Retried later (after about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, "
        "10 h); a 429's `Retry-After` is honoured."
    },
    "5XX": {"description": "Retried later, as for 4XX; a 503's `Retry-After` is honoured."},
}
"""What the endpoint's answer means to notify (redirects are not followed: they fail)."""

WebhookId = Annotated[str, Header(alias="webhook-id", description=HEADERS["webhook-id"])]
WebhookTimestamp = Annotated[
    int, Header(alias="webhook-timestamp", description=HEADERS["webhook-timestamp"])
]
WebhookSignature = Annotated[
    str, Header(alias="webhook-signature", description=HEADERS["webhook-signature"])
]


def _documented(body_model: type[BaseModel]) -> Callable[..., Awaitable[None]]:
    async def webhook(
        body: BaseModel,
        webhook_id: WebhookId,
        webhook_timestamp: WebhookTimestamp,
        webhook_signature: WebhookSignature,
    ) -> None:
        """Never called: its signature documents the request."""

    # The body's model differs per event type; FastAPI reads it from the annotations.
    webhook.__annotations__["body"] = body_model
    return webhook


def webhooks_router() -> APIRouter:
    """A webhook per event type an endpoint can subscribe to, with its headers and body."""
    router = APIRouter(tags=["webhooks"])
    for event_type in NOTIFIABLE_EVENT_TYPES:
        model = EVENT_TYPES.get(event_type)
        if model is None:
            continue  # an internal trigger of emails only, never sent to an endpoint
        doc = inspect.cleandoc(model.__doc__ or model.__name__)
        router.add_api_route(
            event_type,
            _documented(webhook_body_model(model)),
            methods=["POST"],
            summary=doc.splitlines()[0],
            description=doc,
            operation_id=f"webhook:{event_type}",
            responses=RESPONSES,
            response_class=Response,
            name=event_type,
        )
    return router

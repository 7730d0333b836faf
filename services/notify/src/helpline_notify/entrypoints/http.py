"""Notify's HTTP API: the route modules, and the partner stream's AsyncAPI document."""

from typing import Any

from fastapi import APIRouter

from helpline_notify.entrypoints import (
    http_deliveries,
    http_endpoints,
    http_settings,
    http_watchers,
)
from helpline_notify.entrypoints.http_common import ApiOptions
from helpline_notify.entrypoints.http_webhooks import webhooks_router
from helpline_shared.asyncapi import build_document

__all__ = ["ApiOptions", "routers", "webhooks_router"]


def asyncapi_router() -> APIRouter:
    """``GET /v1/asyncapi.json``: the AsyncAPI 3 document of the public event stream."""
    api = APIRouter(prefix="/v1", tags=["partners"])
    document = build_document()

    @api.get("/asyncapi.json")
    async def asyncapi() -> dict[str, Any]:
        """The AsyncAPI 3 document of Helpline's public Kafka topics (no token needed)."""
        return document

    return api


def routers(options: ApiOptions) -> list[APIRouter]:
    """Every route of notify's API."""
    return [
        http_endpoints.router(options),
        http_deliveries.router(options),
        http_settings.router(options),
        http_watchers.router(options),
        asyncapi_router(),
    ]

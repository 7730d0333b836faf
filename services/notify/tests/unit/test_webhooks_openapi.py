"""Notify's OpenAPI document describes every webhook it sends: headers, body, answers."""

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from notify_testkit import new_ticket_id, ticket_assigned, ticket_created

from helpline_notify.adapters.fakes import FakeMailer, FakeWebhookSender
from helpline_notify.bootstrap import bootstrap
from helpline_notify.config import NotifySettings
from helpline_notify.domain.templates import webhook_body
from helpline_shared.events import EVENT_TYPES, Event
from helpline_shared.runtime.testing import stand_in_identity

STANDARD_WEBHOOK_HEADERS = {"webhook-id", "webhook-timestamp", "webhook-signature"}


@pytest.fixture
async def openapi(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """``GET /openapi.json`` of notify's app as bootstrap builds it (nothing started)."""
    settings = NotifySettings(data_dir=tmp_path, **stand_in_identity().settings())
    app, runtime = bootstrap(settings, mailer=FakeMailer(), webhooks=FakeWebhookSender())
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://notify"
        ) as client:
            response = await client.get("/openapi.json")
        assert response.status_code == 200
        yield response.json()
    finally:
        await runtime.engine.dispose()


def body_schema(openapi: dict[str, Any], event_type: str) -> dict[str, Any]:
    """The documented request body of ``event_type``'s webhook, its references resolvable."""
    content = openapi["webhooks"][event_type]["post"]["requestBody"]["content"]
    return {**content["application/json"]["schema"], "components": openapi["components"]}


def partner_event_types() -> set[str]:
    """Every event type an endpoint can receive (notify's own outcomes never notify)."""
    return {
        event_type
        for event_type in EVENT_TYPES
        if not event_type.startswith("helpline.notification.")
    }


async def test_every_event_type_has_a_webhook_with_its_body_and_headers(
    openapi: dict[str, Any],
) -> None:
    assert set(openapi["webhooks"]) == partner_event_types()
    schemas = openapi["components"]["schemas"]
    for event_type in partner_event_types():
        post = openapi["webhooks"][event_type]["post"]
        headers = {p["name"] for p in post["parameters"] if p["in"] == "header" and p["required"]}
        assert headers == STANDARD_WEBHOOK_HEADERS
        assert {"200", "410", "4XX", "5XX"} <= set(post["responses"])
        assert "Published by" in post["description"]
        body = schemas[
            post["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        ]
        assert body["properties"]["type"]["const"] == event_type
        assert body["required"] == ["type", "timestamp", "data"]
        data = schemas[body["properties"]["data"]["$ref"].rsplit("/", 1)[1]]
        model = EVENT_TYPES[event_type]
        assert set(data["properties"]) == set(model.model_fields)
        assert all(field.get("description") for field in data["properties"].values())


@pytest.mark.parametrize(
    "event", [ticket_created(new_ticket_id()), ticket_assigned(new_ticket_id())]
)
async def test_the_body_notify_sends_matches_the_documented_schema(
    openapi: dict[str, Any], event: Event
) -> None:
    sent = json.loads(webhook_body(event.event_type, datetime.now(UTC), event))

    jsonschema.validate(sent, body_schema(openapi, event.event_type))
    other = "helpline.sla.breached.v1"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(sent, body_schema(openapi, other))

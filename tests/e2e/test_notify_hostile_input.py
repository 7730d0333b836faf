"""Hostile strings at notify's API on real PostgreSQL: always a 4xx problem, never a 500.

PostgreSQL refuses NUL and lone surrogates in text, which SQLite (the unit tests' database)
stores happily: these requests must be refused before they reach it.
"""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from notify_rig import TENANT, migrated_engine
from notify_testkit import api_app
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_devstack.postgres import PostgresServer
from helpline_notify.adapters.orm import metadata
from helpline_notify.service_layer.unit_of_work import NotifyUnitOfWork
from helpline_shared.runtime.db import inbox_table, outbox_table
from helpline_shared.runtime.testing import stand_in_identity

pytestmark = pytest.mark.integration

CREATED = "helpline.ticket.created.v1"
HOSTILE = ["\x00", "\ud800"]
BODIES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v1/webhook-endpoints", {"url": "https://hooks.example.com/{x}"}),
    (
        "POST",
        "/v1/webhook-endpoints",
        {"url": "https://hooks.example.com/in", "event_types": ["helpline.{x}"]},
    ),
    (
        "POST",
        "/v1/webhook-endpoints",
        {"url": "https://hooks.example.com/in", "filters": {"team": ["{x}"]}},
    ),
    ("POST", "/v1/subscriptions", {"event_types": ["helpline.sla.*"], "addresses": ["a{x}@b.c"]}),
    (
        "POST",
        "/v1/subscriptions",
        {"event_types": ["helpline.sla.*"], "channel": "webhook", "endpoint_ids": ["{x}"]},
    ),
    ("PUT", f"/v1/templates/{CREATED}/en", {"subject": "Hi {x}", "text": "t"}),
    ("PUT", f"/v1/templates/{CREATED}/en", {"subject": "Hi", "text": "t{x}", "html": "<p>"}),
    ("POST", "/v1/suppressions", {"address": "a{x}@b.c"}),
    ("POST", "/v1/suppressions", {"address": "a@b.c", "reason": "{x}"}),
]
PATHS = [
    ("GET", "/v1/deliveries?ticket_id=a%00b"),
    ("GET", "/v1/deliveries/a%00b"),
    ("POST", "/v1/deliveries/a%00b/cancel"),
    ("GET", "/v1/webhook-endpoints/a%00b"),
    ("DELETE", "/v1/templates/a%00b/en"),
    ("DELETE", "/v1/suppressions/a%00b@c.d"),
    ("DELETE", "/v1/subscriptions/a%00b"),
]


@pytest.fixture
async def api(postgres: PostgresServer) -> AsyncIterator[httpx.AsyncClient]:
    async with migrated_engine(postgres) as engine:
        app = api_app(_units(engine))
        token = stand_in_identity().api_key(TENANT)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://notify",
            headers={"authorization": f"Bearer {token}"},
        ) as client:
            yield client


def _units(engine: AsyncEngine) -> Any:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    outbox, inbox = outbox_table(metadata), inbox_table(metadata)
    return lambda: NotifyUnitOfWork(
        sessions, outbox_table=outbox, inbox_table=inbox, source="/helpline/notify"
    )


def _poisoned(body: dict[str, Any], character: str) -> bytes:
    text = json.dumps(body).replace("{x}", json.dumps(character)[1:-1])
    return text.encode()


def _assert_problem(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("character", HOSTILE, ids=["nul", "surrogate"])
@pytest.mark.parametrize(("method", "path", "body"), BODIES)
async def test_a_hostile_string_in_a_body_is_a_problem(
    api: httpx.AsyncClient,
    method: str,
    path: str,
    body: dict[str, Any],
    character: str,
) -> None:
    response = await api.request(
        method,
        path,
        content=_poisoned(body, character),
        headers={"content-type": "application/json"},
    )
    _assert_problem(response)


@pytest.mark.parametrize(("method", "path"), PATHS)
async def test_a_nul_in_a_path_or_query_is_a_problem(
    api: httpx.AsyncClient, method: str, path: str
) -> None:
    _assert_problem(await api.request(method, path))

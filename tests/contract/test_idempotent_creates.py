"""Every create route of every service honours ``Idempotency-Key`` (one shared piece)."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from helpline_escalation import bootstrap as escalation
from helpline_escalation.config import EscalationSettings
from helpline_intake import bootstrap as intake
from helpline_intake.config import IntakeSettings
from helpline_notify import bootstrap as notify
from helpline_notify.adapters.fakes import FakeMailer, FakeWebhookSender
from helpline_notify.config import NotifySettings
from helpline_routing import bootstrap as routing
from helpline_routing.config import RoutingSettings
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.service import ServiceRuntime
from helpline_shared.runtime.testing import stand_in_identity

IDENTITY = stand_in_identity()
SCOPES = ("tickets:read", "tickets:write", "admin")


@dataclass(frozen=True)
class Service:
    """How to build one service's app, and one of its create routes with two bodies."""

    name: str
    build: Callable[[Path], tuple[FastAPI, ServiceRuntime]]
    migrations: Path
    path: str
    body: dict[str, Any]
    other_body: dict[str, Any]


def _settings(kind: Any, directory: Path, **extra: Any) -> Any:
    return kind(data_dir=directory, **IDENTITY.settings(), **extra)


SERVICES = [
    Service(
        "intake",
        lambda d: intake.bootstrap(_settings(IntakeSettings, d, smtp_server_enabled=False)),
        intake.MIGRATIONS,
        "/v1/organizations",
        {"name": "Acme"},
        {"name": "Other"},
    ),
    Service(
        "routing",
        lambda d: routing.bootstrap(_settings(RoutingSettings, d)),
        routing.MIGRATIONS,
        "/v1/agents",
        {"name": "Ada", "email": "ada@acme.test"},
        {"name": "Bob", "email": "bob@acme.test"},
    ),
    Service(
        "notify",
        lambda d: notify.bootstrap(
            _settings(NotifySettings, d), mailer=FakeMailer(), webhooks=FakeWebhookSender()
        ),
        notify.MIGRATIONS,
        "/v1/subscriptions",
        {"event_types": ["helpline.ticket.created.v1"], "addresses": ["a@acme.test"]},
        {"event_types": ["helpline.ticket.created.v1"], "addresses": ["b@acme.test"]},
    ),
]
ESCALATION = Service(
    "escalation",
    lambda d: escalation.bootstrap(_settings(EscalationSettings, d)),
    escalation.MIGRATIONS,
    "",
    {},
    {},
)


@asynccontextmanager
async def app_of(service: Service, directory: Path) -> AsyncIterator[FastAPI]:
    """The service's app on a migrated SQLite database (nothing started)."""
    app, runtime = service.build(directory)
    settings = runtime.settings
    await asyncio.to_thread(
        upgrade, service.migrations, settings.resolved_database_url(service.name)
    )
    try:
        yield app
    finally:
        await runtime.engine.dispose()


def client(app: FastAPI, tenant: str = "acme") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://service",
        headers={"authorization": f"Bearer {IDENTITY.api_key(tenant, SCOPES)}"},
    )


@pytest.mark.parametrize("service", [*SERVICES, ESCALATION], ids=lambda s: s.name)
async def test_every_post_create_route_declares_the_idempotency_key(
    service: Service, tmp_path: Path
) -> None:
    async with app_of(service, tmp_path) as app:
        paths = app.openapi()["paths"]
    creates = [
        (path, operations["post"])
        for path, operations in paths.items()
        if "post" in operations and "201" in operations["post"]["responses"]
    ]
    if service is not ESCALATION:  # escalation creates with PUT, idempotent by nature
        assert creates
    for path, operation in creates:
        headers = {
            parameter["name"]
            for parameter in operation.get("parameters", [])
            if parameter["in"] == "header"
        }
        assert "Idempotency-Key" in headers, f"{service.name} POST {path}"
        assert {"200", "409"} <= operation["responses"].keys(), f"{service.name} POST {path}"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
async def test_a_retry_returns_the_original_another_body_conflicts_per_tenant(
    service: Service, tmp_path: Path
) -> None:
    async with app_of(service, tmp_path) as app:
        key = {"Idempotency-Key": "create-once"}
        async with client(app) as acme, client(app, "globex") as globex:
            first = await acme.post(service.path, json=service.body, headers=key)
            again = await acme.post(service.path, json=service.body, headers=key)
            other = await acme.post(service.path, json=service.other_body, headers=key)
            elsewhere = await globex.post(service.path, json=service.body, headers=key)
            unkeyed = await acme.post(service.path, json=service.other_body)
    assert first.status_code == 201, first.text
    assert (again.status_code, again.json()) == (200, first.json())
    assert other.status_code == 409
    assert other.headers["content-type"].startswith("application/problem+json")
    assert "Idempotency-Key" in other.json()["detail"]
    assert elsewhere.status_code == 201 and elsewhere.json()["id"] != first.json()["id"]
    assert unkeyed.status_code == 201

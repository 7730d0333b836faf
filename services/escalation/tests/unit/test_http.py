"""``GET /v1/tickets/{id}/sla``: the tenant's own tickets only, errors as problem+json."""

from collections.abc import AsyncIterator

import httpx
import pytest
from escalation_support import TENANT, UnitOfWorkFactory, envelope_of, ticket_created
from fastapi import FastAPI

from helpline_escalation.domain.policy import DEFAULT_FIRST_RESPONSE_TARGETS
from helpline_escalation.entrypoints import http
from helpline_escalation.service_layer import handlers
from helpline_shared.runtime.auth import CredentialVerifier
from helpline_shared.runtime.problems import install_problem_handlers
from helpline_shared.runtime.testing import stand_in_identity

IDENTITY = stand_in_identity()


@pytest.fixture
async def client(unit_of_work: UnitOfWorkFactory) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.state.verifier = CredentialVerifier(IDENTITY.url, IDENTITY.issuer)
    install_problem_handlers(app)
    app.include_router(http.router(unit_of_work))
    await handlers.on_ticket_event(
        envelope_of(ticket_created("t-1", priority="normal")),
        unit_of_work(),
        DEFAULT_FIRST_RESPONSE_TARGETS,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://escalation") as client:
        yield client


def bearer(tenant: str, *scopes: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {IDENTITY.api_key(tenant, scopes)}"}


async def test_shows_each_metric_of_the_tenants_ticket(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/tickets/t-1/sla", headers=bearer(TENANT, "tickets:read"))
    assert response.status_code == 200
    body = response.json()
    assert body["ticket_id"] == "t-1"
    first_response = body["metrics"]["first_response"]
    assert first_response["state"] == "running"
    assert first_response["target_seconds"] == 8 * 3600
    assert first_response["stopped_at"] is None
    assert {"started_at", "deadline", "breached_at"} <= first_response.keys()


async def test_another_tenants_ticket_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/tickets/t-1/sla", headers=bearer("other", "tickets:read"))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_requires_the_read_scope(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/tickets/t-1/sla")).status_code == 401
    response = await client.get("/v1/tickets/t-1/sla", headers=bearer(TENANT, "tickets:write"))
    assert response.status_code == 403


POLICY = {
    "name": "Premium 24/7",
    "position": 0,
    "conditions": {"plans": ["premium"]},
    "calendar": {
        "name": "Berlin office",
        "time_zone": "Europe/Berlin",
        "weekly_hours": {"0": [{"start": "09:00", "end": "17:00"}]},
        "holidays": [{"first": "2026-12-24", "last": "2026-12-26"}],
    },
    "metrics": {"first_response": {"targets": {"high": 3600}}},
}


async def test_each_write_of_a_policy_is_a_new_version(client: httpx.AsyncClient) -> None:
    for version in (1, 2):
        response = await client.put(
            "/v1/sla/policies/premium", json=POLICY, headers=bearer(TENANT, "admin")
        )
        assert response.status_code == 200, response.text
        assert response.json()["version"] == version
    listed = await client.get("/v1/sla/policies", headers=bearer(TENANT, "admin"))
    assert [(p["policy_id"], p["version"]) for p in listed.json()] == [("premium", 2)]
    other = await client.get("/v1/sla/policies", headers=bearer("other", "admin"))
    assert other.json() == []


async def test_an_invalid_policy_is_a_problem_naming_the_field(client: httpx.AsyncClient) -> None:
    broken = {**POLICY, "calendar": {**POLICY["calendar"], "time_zone": "Mars/Olympus"}}
    response = await client.put(
        "/v1/sla/policies/premium", json=broken, headers=bearer(TENANT, "admin")
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "calendar" in response.text and "UnknownTimeZone" in response.text


async def test_managing_policies_needs_the_admin_scope(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/v1/sla/policies/premium", json=POLICY, headers=bearer(TENANT, "tickets:write")
    )
    assert response.status_code == 403


async def test_the_sla_view_shows_business_time_pauses_and_history(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/v1/tickets/t-1/sla", headers=bearer(TENANT, "tickets:read"))
    metric = response.json()["metrics"]["first_response"]
    assert metric["elapsed_business_seconds"] >= 0
    assert metric["paused_seconds"] == 0
    assert [entry["what"] for entry in metric["history"]] == ["started"]
    assert (metric["policy_id"], metric["calendar"]) == ("default", "24/7")

"""``GET /v1/tickets/{id}/sla``: the tenant's own tickets only, errors as problem+json."""

from collections.abc import AsyncIterator

import httpx
import pytest
from escalation_support import TENANT, UnitOfWorkFactory, envelope_of, ticket_created
from fastapi import FastAPI

from helpline_escalation.domain.policy import DEFAULT_FIRST_RESPONSE_TARGETS
from helpline_escalation.entrypoints import http
from helpline_escalation.service_layer import handlers
from helpline_shared.runtime.auth import issue_token
from helpline_shared.runtime.problems import install_problem_handlers

SECRET = "test-secret"


@pytest.fixture
async def client(unit_of_work: UnitOfWorkFactory) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.state.token_secret = SECRET
    install_problem_handlers(app)
    app.include_router(http.router(unit_of_work))
    await handlers.on_ticket_event(envelope_of(ticket_created("t-1", priority="normal")),
                                   unit_of_work(), DEFAULT_FIRST_RESPONSE_TARGETS)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://escalation") as client:
        yield client


def bearer(tenant: str, *scopes: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(tenant, SECRET, scopes)}"}


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

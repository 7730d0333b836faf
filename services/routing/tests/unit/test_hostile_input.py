"""Hostile input on routing's edge: write scope for heartbeats, bounded numbers, safe names."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from helpline_routing.adapters.orm import metadata
from helpline_routing.bootstrap import MIGRATIONS
from helpline_routing.entrypoints import http_admin, http_agents, http_tickets
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared.runtime.auth import CredentialVerifier
from helpline_shared.runtime.problems import install_problem_handlers
from helpline_shared.runtime.testing import sqlite_units_of_work, stand_in_identity

IDENTITY = stand_in_identity()


def bearer(*scopes: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {IDENTITY.api_key('acme', scopes)}"}


ADMIN = bearer("admin")
AGENT = {
    "name": "ann",
    "email": "ann@acme.test",
    "skills": {"exports": 5},
    "capacity": {"api": 2},
    "presence": "available",
    "teams": ["tier1"],
    "languages": ["en"],
}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with sqlite_units_of_work(
        tmp_path / "routing.db", MIGRATIONS, metadata, RoutingUnitOfWork
    ) as (unit_of_work, _engine):
        app = FastAPI()
        app.state.verifier = CredentialVerifier(IDENTITY.url, IDENTITY.issuer)
        install_problem_handlers(app)
        for module in (http_agents, http_admin, http_tickets):
            app.include_router(module.router(unit_of_work))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://routing"
        ) as http:
            yield http


async def test_a_heartbeat_needs_a_write_scope(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/agents", json=AGENT, headers=ADMIN)
    path = f"/v1/agents/{created.json()['id']}/heartbeat"
    refused = await client.post(path, headers=bearer("tickets:read"))
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert (await client.post(path, headers=bearer("tickets:write"))).status_code == 200
    assert (await client.post(path, headers=ADMIN)).status_code == 200


def assert_refuses(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [error["field"] for error in response.json()["errors"]], response.json()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "ann\u202eexe.pdf"}, "name"),
        ({"name": "ann\x00"}, "name"),
        ({"email": "ann\u2066@acme.test"}, "email"),
        ({"email": "ann@acme.test\x00"}, "email"),
        ({"teams": ["tier1\u200f"]}, "teams.0"),
        ({"languages": ["en\r\n"]}, "languages.0"),
        ({"skills": {"exports": 2**63}}, "skills.exports"),
        ({"capacity": {"api": 10**9}}, "capacity.api"),
    ],
)
async def test_an_unsafe_or_unbounded_agent_value_is_a_422_naming_the_field(
    client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    assert_refuses(await client.post("/v1/agents", json={**AGENT, **change}, headers=ADMIN), field)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"idle_timeout_seconds": 10**15}, "idle_timeout_seconds"),
        ({"affinity_window_seconds": 10**15}, "affinity_window_seconds"),
        ({"offer_timeout_seconds": 2**63}, "offer_timeout_seconds"),
        ({"relaxation_waits_seconds": [10**12]}, "relaxation_waits_seconds.0"),
        ({"fallback_team": "tier\u202e1"}, "fallback_team"),
    ],
)
async def test_an_out_of_range_or_unsafe_setting_is_a_422_naming_the_field(
    client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    assert_refuses(await client.put("/v1/routing/settings", json=change, headers=ADMIN), field)


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"id": "r\u202e", "outcome": {}}, "rules.0.id"),
        (
            {"id": "r", "conditions": {"keywords": ["in\x00voice"]}, "outcome": {}},
            "rules.0.conditions.keywords.0",
        ),
        (
            {"id": "r", "conditions": {"mailboxes": ["s\u2067@acme.test"]}, "outcome": {}},
            "rules.0.conditions.mailboxes.0",
        ),
        ({"id": "r", "outcome": {"team": "t\x07"}}, "rules.0.outcome.team"),
    ],
)
async def test_an_unsafe_rule_value_is_a_422_naming_the_field(
    client: httpx.AsyncClient, rule: dict[str, Any], field: str
) -> None:
    assert_refuses(
        await client.put("/v1/routing/rules", json={"rules": [rule]}, headers=ADMIN), field
    )


async def test_an_unsafe_decline_reason_is_a_422(client: httpx.AsyncClient) -> None:
    assert_refuses(
        await client.post("/v1/offers/o1/decline", json={"reason": "no\x1b[31m"}, headers=ADMIN),
        "reason",
    )


async def test_setting_limits_are_written_in_the_openapi(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    idle = schemas["SettingsIn"]["properties"]["idle_timeout_seconds"]
    assert (idle["minimum"], idle["maximum"]) == (0, 7 * 86_400)


async def test_an_agent_id_with_a_nul_in_a_body_is_a_422(client: httpx.AsyncClient) -> None:
    # PostgreSQL refuses NUL in text: such an id reached the query and failed with a 500.
    assert_refuses(
        await client.put("/v1/tickets/t1/assignment", json={"agent_id": "a\x00"}, headers=ADMIN),
        "agent_id",
    )
    assert_refuses(
        await client.put(
            "/v1/organizations/o1/account-manager", json={"agent_id": "a\x00"}, headers=ADMIN
        ),
        "agent_id",
    )

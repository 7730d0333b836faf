"""Routing's API: rules versioned, settings, offers, manual assignment, a ticket's routing history.

Errors are problem+json naming the field; a tenant never sees another tenant's tickets or offers.
"""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from routing_support import Factory, created

from helpline_routing.adapters.orm import metadata
from helpline_routing.bootstrap import MIGRATIONS
from helpline_routing.entrypoints import http_admin, http_agents, http_tickets
from helpline_routing.service_layer import handlers
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared.runtime.auth import CredentialVerifier
from helpline_shared.runtime.problems import install_problem_handlers
from helpline_shared.runtime.testing import sqlite_units_of_work, stand_in_identity

IDENTITY = stand_in_identity()
ACME = {"Authorization": f"Bearer {IDENTITY.api_key('acme')}"}
OTHER = {"Authorization": f"Bearer {IDENTITY.api_key('other')}"}
READER = {"Authorization": f"Bearer {IDENTITY.api_key('acme', ('tickets:read',))}"}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Factory]]:
    async with sqlite_units_of_work(
        tmp_path / "routing.db", MIGRATIONS, metadata, RoutingUnitOfWork
    ) as (unit_of_work, _engine):
        app = FastAPI()
        app.state.verifier = CredentialVerifier(IDENTITY.url, IDENTITY.issuer)
        install_problem_handlers(app)
        for module in (http_agents, http_admin, http_tickets):
            app.include_router(module.router(unit_of_work))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://routing") as client:
            yield client, unit_of_work


async def agent(client: httpx.AsyncClient, name: str, capacity: int = 1) -> str:
    response = await client.post(
        "/v1/agents",
        headers=ACME,
        json={
            "name": name,
            "email": f"{name}@acme.test",
            "skills": {"exports": 5},
            "capacity": {"api": capacity},
            "presence": "available",
            "teams": ["tier1"],
            "languages": ["en"],
        },
    )
    assert response.status_code == 201, response.text
    agent_id: str = response.json()["id"]
    return agent_id


async def test_rules_are_replaced_as_new_versions_and_old_versions_stay_readable(
    api: tuple[httpx.AsyncClient, Factory],
) -> None:
    client, _uow = api
    assert (await client.get("/v1/routing/rules", headers=READER)).json()["version"] == 0
    for skill in ("billing", "invoicing"):
        response = await client.put(
            "/v1/routing/rules",
            headers=ACME,
            json={
                "rules": [
                    {
                        "id": "money",
                        "conditions": {"keywords": ["invoice"], "plans": ["premium"]},
                        "outcome": {
                            "required_skills": {skill: 4},
                            "optional_skills": {"german": {"level": 2, "priority": 1}},
                        },
                    }
                ]
            },
        )
        assert response.status_code == 200, response.text
    assert (await client.get("/v1/routing/rules", headers=READER)).json()["version"] == 2
    first = (await client.get("/v1/routing/rules/versions/1", headers=READER)).json()
    assert first["rules"][0]["outcome"]["required_skills"] == {"billing": 4}
    assert (await client.get("/v1/routing/rules/versions/9", headers=READER)).status_code == 404
    assert (await client.get("/v1/routing/rules", headers=OTHER)).json()["version"] == 0


async def test_invalid_rules_and_settings_are_problems_naming_the_field(
    api: tuple[httpx.AsyncClient, Factory],
) -> None:
    client, _uow = api
    response = await client.put(
        "/v1/routing/rules",
        headers=ACME,
        json={"rules": [{"id": "bad", "outcome": {"required_skills": {"exports": 11}}}]},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "rules.0.outcome.required_skills.exports" in response.json()["detail"]
    response = await client.put(
        "/v1/routing/settings", headers=ACME, json={"offer_timeout_seconds": 0}
    )
    assert "offer_timeout_seconds" in response.json()["detail"]
    assert (await client.put("/v1/routing/rules", headers=READER, json={})).status_code == 403


async def test_offers_are_answered_once_and_only_by_their_tenant(
    api: tuple[httpx.AsyncClient, Factory],
) -> None:
    client, uow = api
    assert (
        await client.put("/v1/routing/settings", headers=ACME, json={"manual_acceptance": True})
    ).status_code == 200
    agent_id = await agent(client, "ada")
    await handlers.on_ticket_event(created("t1"), uow())
    routing = (await client.get("/v1/tickets/t1/routing", headers=READER)).json()
    assert (routing["state"], routing["agent_id"]) == ("offered", agent_id)
    offer_id = routing["offer_id"]
    assert (await client.post(f"/v1/offers/{offer_id}/accept", headers=OTHER)).status_code == 404
    assert (await client.get("/v1/tickets/t1/routing", headers=OTHER)).status_code == 404
    accepted = await client.post(f"/v1/offers/{offer_id}/accept", headers=ACME)
    assert accepted.json()["state"] == "accepted"
    again = await client.post(f"/v1/offers/{offer_id}/decline", headers=ACME, json={})
    assert again.status_code == 409
    routing = (await client.get("/v1/tickets/t1/routing", headers=READER)).json()
    assert routing["state"] == "assigned"
    assert [step["kind"] for step in routing["history"]] == ["classified", "offered", "assigned"]
    assert routing["history"][1]["detail"]["candidates"][0] == {
        "agent_id": agent_id,
        "outcome": "won",
    }


async def test_manual_assignment_needs_the_flag_to_exceed_capacity(
    api: tuple[httpx.AsyncClient, Factory],
) -> None:
    client, uow = api
    full = await agent(client, "full")
    await handlers.on_ticket_event(created("t1"), uow())
    await handlers.on_ticket_event(created("t2"), uow())
    refused = await client.put("/v1/tickets/t2/assignment", headers=ACME, json={"agent_id": full})
    assert refused.status_code == 409
    assert "exceed_capacity" in refused.json()["detail"]
    forced = await client.put(
        "/v1/tickets/t2/assignment", headers=ACME, json={"agent_id": full, "exceed_capacity": True}
    )
    assert forced.status_code == 200 and forced.json()["agent_id"] == full
    assert "exceeding capacity" in forced.json()["history"][-1]["summary"]
    shown = (await client.get(f"/v1/agents/{full}", headers=READER)).json()
    assert shown["load"] == {"api": 2}
    assert shown["teams"] == ["tier1"] and shown["languages"] == ["en"]


async def test_account_managers_must_be_agents_of_the_tenant(
    api: tuple[httpx.AsyncClient, Factory],
) -> None:
    client, _uow = api
    agent_id = await agent(client, "ada")
    url = "/v1/organizations/org-1/account-manager"
    assert (await client.put(url, headers=ACME, json={"agent_id": agent_id})).status_code == 204
    assert (await client.put(url, headers=OTHER, json={"agent_id": agent_id})).status_code == 404


async def test_capacity_added_to_an_agent_takes_waiting_work(
    api: tuple[httpx.AsyncClient, Factory],
) -> None:
    client, uow = api
    agent_id = await agent(client, "ada")
    await handlers.on_ticket_event(created("t1"), uow())
    await handlers.on_ticket_event(created("t2"), uow())
    assert (await client.get("/v1/tickets/t2/routing", headers=READER)).json()["state"] == "waiting"
    response = await client.patch(
        f"/v1/agents/{agent_id}", headers=ACME, json={"capacity": {"api": 2}}
    )
    assert response.json()["load"] == {"api": 2}
    assert (await client.get("/v1/tickets/t2/routing", headers=READER)).json()[
        "agent_id"
    ] == agent_id


async def test_an_agents_acceptance_override_is_set_and_cleared(
    api: tuple[httpx.AsyncClient, Factory],
) -> None:
    client, _uow = api
    agent_id = await agent(client, "ada")
    url = f"/v1/agents/{agent_id}"
    assert (await client.patch(url, headers=ACME, json={"auto_accept": False})).json()[
        "auto_accept"
    ] is False
    assert (await client.patch(url, headers=ACME, json={"teams": ["tier2"]})).json()[
        "auto_accept"
    ] is False, "absent: unchanged"
    assert (await client.patch(url, headers=ACME, json={"auto_accept": None})).json()[
        "auto_accept"
    ] is None, "null: the tenant decides again"

"""Agents are identity users: their own token sets their presence and answers their offers.

Leads act for their teams' agents (presence) and any offer, admins for anyone; keys by scope.
An assignment override is attributed to the credential behind it; a deactivated user's agent
goes offline. Credentials come from the stand-in identity (real signed tokens and keys).
"""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from routing_support import Factory, created, envelope, events_of
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_routing.adapters.orm import metadata
from helpline_routing.bootstrap import MIGRATIONS
from helpline_routing.entrypoints import http_admin, http_agents, http_tickets
from helpline_routing.service_layer import agents, handlers
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared.events import UserDeactivated
from helpline_shared.runtime.credentials import CredentialVerifier
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.problems import install_problem_handlers
from helpline_shared.runtime.testing import sqlite_units_of_work, stand_in_identity

IDENTITY = stand_in_identity()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ADMIN = bearer(IDENTITY.person("acme", "admin", "root"))
ANN = bearer(IDENTITY.person("acme", "agent", "ann", teams=("tier1",)))
BOB = bearer(IDENTITY.person("acme", "agent", "bob", teams=("tier1",)))
LEAD = bearer(IDENTITY.person("acme", "lead", "lee", teams=("tier1",)))
OTHER_LEAD = bearer(IDENTITY.person("acme", "lead", "liv", teams=("tier2",)))
WRITE_KEY = bearer(IDENTITY.api_key("acme", ("tickets:read", "tickets:write")))


class Routing:
    """Routing's API in process, its units of work and its outbox."""

    def __init__(self, client: httpx.AsyncClient, uow: Factory, engine: AsyncEngine) -> None:
        self.client = client
        self.uow = uow
        self.engine = engine

    async def agent(
        self, name: str, user_id: str | None, teams: tuple[str, ...] = ("tier1",), **extra: Any
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/v1/agents",
            headers=ADMIN,
            json={
                "name": name,
                "email": f"{name}@acme.test",
                "skills": {"exports": 5},
                "capacity": {"api": 2},
                "presence": "available",
                "teams": list(teams),
                "user_id": user_id,
                **extra,
            },
        )
        assert response.status_code == 201, response.text
        created_agent: dict[str, Any] = response.json()
        return created_agent


@pytest.fixture
async def routing(tmp_path: Path) -> AsyncIterator[Routing]:
    async with sqlite_units_of_work(
        tmp_path / "routing.db", MIGRATIONS, metadata, RoutingUnitOfWork
    ) as (unit_of_work, engine):
        app = FastAPI()
        app.state.verifier = CredentialVerifier(
            identity_url=IDENTITY.url, issuer=IDENTITY.issuer, audience=IDENTITY.audience
        )
        install_problem_handlers(app)
        for module in (http_agents, http_admin, http_tickets):
            app.include_router(module.router(unit_of_work))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://routing") as client:
            yield Routing(client, unit_of_work, engine)


async def test_an_agent_is_registered_as_an_identity_user_once_per_tenant(routing: Routing) -> None:
    ann = await routing.agent("ann", "ann")
    assert ann["user_id"] == "ann"
    again = await routing.client.post(
        "/v1/agents",
        headers=ADMIN,
        json={"name": "ann2", "email": "ann2@acme.test", "user_id": "ann"},
    )
    assert again.status_code == 409 and "user_id" in again.json()["detail"]
    found = await routing.client.get("/v1/agents", params={"user_id": "ann"}, headers=ANN)
    assert [agent["id"] for agent in found.json()] == [ann["id"]]
    refused = await routing.client.post(
        "/v1/agents", headers=ANN, json={"name": "eve", "email": "eve@acme.test", "user_id": "eve"}
    )
    assert refused.status_code == 403


async def test_an_agent_registered_before_users_is_linked_to_one_later(routing: Routing) -> None:
    old = await routing.agent("ann", None)
    await routing.agent("bob", "bob")
    path = f"/v1/agents/{old['id']}"
    assert (
        await routing.client.put(f"{path}/presence", headers=ANN, json={"status": "away"})
    ).status_code == 403
    assert (
        await routing.client.patch(path, headers=ADMIN, json={"user_id": "bob"})
    ).status_code == 409
    linked = await routing.client.patch(path, headers=ADMIN, json={"user_id": "ann"})
    assert linked.status_code == 200 and linked.json()["user_id"] == "ann"
    assert (
        await routing.client.put(f"{path}/presence", headers=ANN, json={"status": "away"})
    ).status_code == 200


async def test_an_agent_sets_their_own_presence_but_not_another_agents(routing: Routing) -> None:
    ann = await routing.agent("ann", "ann")
    path = f"/v1/agents/{ann['id']}/presence"
    own = await routing.client.put(path, headers=ANN, json={"status": "away"})
    assert own.status_code == 200 and own.json()["presence"] == "away"
    foreign = await routing.client.put(path, headers=BOB, json={"status": "available"})
    assert foreign.status_code == 403
    assert (
        await routing.client.post(f"/v1/agents/{ann['id']}/heartbeat", headers=ANN)
    ).status_code == 200
    assert (
        await routing.client.post(f"/v1/agents/{ann['id']}/heartbeat", headers=BOB)
    ).status_code == 403
    current = (await routing.client.get(f"/v1/agents/{ann['id']}", headers=ANN)).json()
    assert current["presence"] == "away"


async def test_a_lead_sets_the_presence_of_their_teams_agents_only(routing: Routing) -> None:
    ann = await routing.agent("ann", "ann", teams=("tier1",))
    path = f"/v1/agents/{ann['id']}/presence"
    assert (
        await routing.client.put(path, headers=OTHER_LEAD, json={"status": "offline"})
    ).status_code == 403
    by_lead = await routing.client.put(path, headers=LEAD, json={"status": "offline"})
    assert by_lead.status_code == 200 and by_lead.json()["presence"] == "offline"
    assert (
        await routing.client.put(path, headers=ADMIN, json={"status": "busy"})
    ).status_code == 200
    assert (
        await routing.client.put(path, headers=WRITE_KEY, json={"status": "available"})
    ).status_code == 200


async def test_an_agent_answers_only_offers_made_to_them(routing: Routing) -> None:
    assert (
        await routing.client.put(
            "/v1/routing/settings", headers=ADMIN, json={"manual_acceptance": True}
        )
    ).status_code == 200
    ann = await routing.agent("ann", "ann")
    await routing.agent("bob", "bob", presence="offline")
    await handlers.on_ticket_event(created("t1"), routing.uow())
    state = (await routing.client.get("/v1/tickets/t1/routing", headers=ANN)).json()
    assert (state["state"], state["agent_id"]) == ("offered", ann["id"])
    offer = state["offer_id"]
    assert (await routing.client.post(f"/v1/offers/{offer}/accept", headers=BOB)).status_code == 403
    assert (
        await routing.client.post(f"/v1/offers/{offer}/decline", headers=BOB, json={})
    ).status_code == 403
    accepted = await routing.client.post(f"/v1/offers/{offer}/accept", headers=ANN)
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"


async def test_a_lead_answers_any_offer(routing: Routing) -> None:
    assert (
        await routing.client.put(
            "/v1/routing/settings", headers=ADMIN, json={"manual_acceptance": True}
        )
    ).status_code == 200
    await routing.agent("ann", "ann", teams=("tier9",))
    await handlers.on_ticket_event(created("t1"), routing.uow())
    offer = (await routing.client.get("/v1/tickets/t1/routing", headers=LEAD)).json()
    declined = await routing.client.post(
        f"/v1/offers/{offer['offer_id']}/decline", headers=OTHER_LEAD, json={"reason": "on leave"}
    )
    assert declined.status_code == 200 and declined.json()["state"] == "declined"


async def test_an_assignment_override_is_for_leads_and_names_who_made_it(routing: Routing) -> None:
    await routing.agent("ann", "ann")
    bob = await routing.agent("bob", "bob", presence="offline")
    await handlers.on_ticket_event(created("t1"), routing.uow())
    body = {"agent_id": bob["id"], "exceed_capacity": True}
    assert (
        await routing.client.put("/v1/tickets/t1/assignment", headers=ANN, json=body)
    ).status_code == 403
    response = await routing.client.put("/v1/tickets/t1/assignment", headers=LEAD, json=body)
    assert response.status_code == 200 and response.json()["agent_id"] == bob["id"]
    manual = [event for event in await events_of(routing.engine, "assigned") if event.manual]
    assert [(event.agent_id, event.actor.type, event.actor.id) for event in manual] == [
        (bob["id"], "user", "lee")
    ]


async def test_a_deactivated_users_agent_goes_offline_once(routing: Routing) -> None:
    ann = await routing.agent("ann", "ann")
    deactivated = envelope(UserDeactivated(tenant_id="acme", user_id="ann", occurred_at=utcnow()))
    await agents.on_user_deactivated(deactivated, routing.uow())
    await agents.on_user_deactivated(deactivated, routing.uow())
    found = (await routing.client.get(f"/v1/agents/{ann['id']}", headers=ADMIN)).json()
    assert found["presence"] == "offline"

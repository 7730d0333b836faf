"""What the workspace reads from routing: offers (an agent's own only), the agent a user is,
and the agents report for leads; no tenant ever sees another's."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from api_support import (
    ADMIN,
    ANN,
    BOB,
    GLOBEX_ADMIN,
    GLOBEX_AGENT,
    LEAD,
    NOBODY,
    READ_KEY,
    REPORTS_KEY,
    Routing,
    routing_api,
)
from routing_support import created, envelope

from helpline_routing.service_layer import handlers
from helpline_shared.events import TicketStatusChanged
from helpline_shared.runtime.db import utcnow


@pytest.fixture
async def routing(tmp_path: Path) -> AsyncIterator[Routing]:
    async with routing_api(tmp_path) as made:
        yield made


async def offered_to_ann_and_bob(routing: Routing) -> tuple[str, str]:
    """Ann holds an open offer of t1 and declined t2 (now offered to Bob); return their ids."""
    await routing.manual_acceptance()
    ann = (await routing.agent("ann", "ann"))["id"]
    bob = (await routing.agent("bob", "bob", presence="offline"))["id"]
    await handlers.on_ticket_event(created("t1"), routing.uow())
    await handlers.on_ticket_event(created("t2"), routing.uow())
    second = (await routing.client.get("/v1/tickets/t2/routing", headers=ADMIN)).json()
    assert second["agent_id"] == ann
    assert (
        await routing.client.put(
            f"/v1/agents/{bob}/presence", headers=ADMIN, json={"status": "available"}
        )
    ).status_code == 200
    declined = await routing.client.post(
        f"/v1/offers/{second['offer_id']}/decline", headers=ANN, json={"reason": "busy"}
    )
    assert declined.status_code == 200, declined.text
    return ann, bob


async def test_an_agent_lists_their_own_offers_newest_first_with_status(routing: Routing) -> None:
    ann, _bob = await offered_to_ann_and_bob(routing)
    response = await routing.client.get("/v1/offers", headers=ANN)
    assert response.status_code == 200, response.text
    listed = response.json()
    assert [(offer["ticket_id"], offer["agent_id"], offer["status"]) for offer in listed] == [
        ("t2", ann, "declined"),
        ("t1", ann, "pending"),
    ]
    assert set(listed[0]) >= {
        "id",
        "ticket_id",
        "agent_id",
        "status",
        "state",
        "created_at",
        "expires_at",
        "decided_at",
    }
    pending = await routing.client.get(
        "/v1/offers", headers=ANN, params={"status": "pending", "agent_id": ann}
    )
    assert [offer["ticket_id"] for offer in pending.json()] == ["t1"]
    assert [
        offer["ticket_id"]
        for offer in (
            await routing.client.get("/v1/offers", headers=ANN, params={"limit": 1})
        ).json()
    ] == ["t2"]


async def test_an_agent_may_not_list_another_agents_offers(routing: Routing) -> None:
    ann, bob = await offered_to_ann_and_bob(routing)
    refused = await routing.client.get("/v1/offers", headers=ANN, params={"agent_id": bob})
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (
        await routing.client.get("/v1/offers", headers=BOB, params={"agent_id": ann})
    ).status_code == 403
    assert [
        offer["ticket_id"] for offer in (await routing.client.get("/v1/offers", headers=BOB)).json()
    ] == ["t2"]
    assert (await routing.client.get("/v1/offers", headers=NOBODY)).json() == [], (
        "a person who is no agent has no offers"
    )
    assert (
        await routing.client.get("/v1/offers", headers=NOBODY, params={"agent_id": ann})
    ).status_code == 403


async def test_leads_admins_and_reading_keys_list_any_agents_offers(routing: Routing) -> None:
    ann, bob = await offered_to_ann_and_bob(routing)
    for headers in (LEAD, ADMIN, READ_KEY):
        every = (await routing.client.get("/v1/offers", headers=headers)).json()
        assert sorted((offer["ticket_id"], offer["agent_id"]) for offer in every) == sorted(
            [("t1", ann), ("t2", ann), ("t2", bob)]
        )
        of_bob = (
            await routing.client.get("/v1/offers", headers=headers, params={"agent_id": bob})
        ).json()
        assert [(offer["ticket_id"], offer["status"]) for offer in of_bob] == [("t2", "pending")]
    declined = (
        await routing.client.get("/v1/offers", headers=LEAD, params={"status": "declined"})
    ).json()
    assert [(offer["ticket_id"], offer["agent_id"]) for offer in declined] == [("t2", ann)]


@pytest.mark.parametrize(
    "query", [{"status": "maybe"}, {"limit": "0"}, {"limit": "201"}, {"agent_id": "x" * 65}]
)
async def test_a_bad_offers_query_is_a_problem_naming_the_field(
    routing: Routing, query: dict[str, str]
) -> None:
    response = await routing.client.get("/v1/offers", headers=LEAD, params=query)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert next(iter(query)) in response.text


async def test_the_agent_a_user_is_is_found_by_user_id(routing: Routing) -> None:
    ann = await routing.agent("ann", "ann")
    await routing.agent("bob", "bob")
    found = await routing.client.get("/v1/agents", headers=ANN, params={"user_id": "ann"})
    assert [agent["id"] for agent in found.json()] == [ann["id"]]
    assert (
        await routing.client.get("/v1/agents", headers=ANN, params={"user_id": "zed"})
    ).json() == []
    assert len((await routing.client.get("/v1/agents", headers=ANN)).json()) == 2


async def test_the_agents_report_counts_open_assignments_and_presence(routing: Routing) -> None:
    ann = await routing.agent("ann", "ann", teams=("tier1", "billing"))
    bob = await routing.agent("bob", "bob", presence="away")
    cy = await routing.agent("cy", None, presence="offline", capacity={"api": 0})
    for ticket_id in ("t1", "t2", "t3"):
        await handlers.on_ticket_event(created(ticket_id), routing.uow())
    await handlers.on_ticket_event(
        envelope(
            TicketStatusChanged(
                tenant_id="acme",
                ticket_id="t1",
                occurred_at=utcnow(),
                status="solved",
                previous_status="open",
            )
        ),
        routing.uow(),
    )
    for headers in (LEAD, ADMIN, REPORTS_KEY):
        response = await routing.client.get("/v1/reports/agents", headers=headers)
        assert response.status_code == 200, response.text
        report = response.json()
        assert set(report) == {"generated_at", "agents", "by_presence"}
        assert report["by_presence"] == {"available": 1, "busy": 0, "away": 1, "offline": 1}
        rows = {row["agent_id"]: row for row in report["agents"]}
        assert rows[ann["id"]] == {
            "agent_id": ann["id"],
            "user_id": "ann",
            "name": "ann",
            "teams": ["billing", "tier1"],
            "presence": "available",
            "load": 2,
            "capacity": 3,
            "last_seen": rows[ann["id"]]["last_seen"],
        }
        assert rows[ann["id"]]["last_seen"] is not None
        assert (rows[bob["id"]]["load"], rows[bob["id"]]["presence"]) == (0, "away")
        assert (rows[cy["id"]]["user_id"], rows[cy["id"]]["capacity"]) == (None, 0)
    held = {}
    for ticket_id in ("t1", "t2", "t3"):
        found = (await routing.client.get(f"/v1/tickets/{ticket_id}/routing", headers=LEAD)).json()
        held[ticket_id] = (found["state"], found["agent_id"])
    assert held == {
        "t1": ("closed", None),
        "t2": ("assigned", ann["id"]),
        "t3": ("assigned", ann["id"]),
    }, "solving t1 gave ann the queued t3"
    assert (await routing.client.get("/v1/reports/agents", headers=ANN)).status_code == 403


async def test_no_tenant_sees_another_tenants_offers_agents_or_figures(routing: Routing) -> None:
    ann, _bob = await offered_to_ann_and_bob(routing)
    await routing.manual_acceptance(GLOBEX_ADMIN)
    gus = await routing.agent("gus", "gus", headers=GLOBEX_ADMIN)
    await handlers.on_ticket_event(created("g1", tenant_id="globex"), routing.uow())
    theirs = (await routing.client.get("/v1/offers", headers=GLOBEX_ADMIN)).json()
    assert [(offer["ticket_id"], offer["agent_id"]) for offer in theirs] == [("g1", gus["id"])]
    assert (
        await routing.client.get("/v1/offers", headers=GLOBEX_ADMIN, params={"agent_id": ann})
    ).json() == []
    assert (
        await routing.client.get("/v1/offers", headers=GLOBEX_AGENT, params={"agent_id": ann})
    ).status_code == 403
    assert [
        offer["ticket_id"]
        for offer in (await routing.client.get("/v1/offers", headers=GLOBEX_AGENT)).json()
    ] == ["g1"]
    assert "g1" not in {
        offer["ticket_id"]
        for offer in (await routing.client.get("/v1/offers", headers=LEAD)).json()
    }
    assert (
        await routing.client.get("/v1/agents", headers=GLOBEX_ADMIN, params={"user_id": "ann"})
    ).json() == []
    report = (await routing.client.get("/v1/reports/agents", headers=GLOBEX_ADMIN)).json()
    assert [row["agent_id"] for row in report["agents"]] == [gus["id"]]
    assert report["by_presence"]["available"] == 1

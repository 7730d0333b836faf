"""Concurrent requests that would give one identity user two agents: one wins, the others get
the 409 a later duplicate gets (the database's unique key decides), never a 500. Concurrent
replacements of rules, settings and account managers are each stored, never a 500.

Run on SQLite here and on PostgreSQL by ``integration/test_concurrent_creates_postgres.py``.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from api_support import ADMIN, Routing, routing_api_on
from routing_support import Database

CONCURRENT = 6


@pytest.fixture
async def routing(database: Database) -> AsyncIterator[Routing]:
    async with routing_api_on(database) as made:
        yield made


def agent_body(name: str, user_id: str | None) -> dict[str, Any]:
    return {
        "name": name,
        "email": f"{name}@acme.test",
        "capacity": {"email": 1},
        "user_id": user_id,
    }


def assert_one_won(answers: list[httpx.Response], won: int) -> None:
    assert sorted(answer.status_code for answer in answers) == [won] + [409] * (len(answers) - 1), [
        answer.text for answer in answers
    ]
    for answer in answers:
        if answer.status_code == 409:
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["detail"] == "user_id: another agent of the tenant is this user"


async def test_concurrent_registrations_of_one_user_create_one_agent(routing: Routing) -> None:
    answers = await asyncio.gather(
        *(
            routing.client.post("/v1/agents", headers=ADMIN, json=agent_body(f"ann{n}", "ann"))
            for n in range(CONCURRENT)
        )
    )
    assert_one_won(answers, 201)
    [created] = [answer.json() for answer in answers if answer.status_code == 201]
    found = await routing.client.get("/v1/agents", params={"user_id": "ann"}, headers=ADMIN)
    assert [agent["id"] for agent in found.json()] == [created["id"]]


async def test_concurrent_links_of_agents_to_one_user_link_one(routing: Routing) -> None:
    unlinked = [await routing.agent(f"bob{n}", None) for n in range(CONCURRENT)]
    answers = await asyncio.gather(
        *(
            routing.client.patch(
                f"/v1/agents/{agent['id']}", headers=ADMIN, json={"user_id": "bob"}
            )
            for agent in unlinked
        )
    )
    assert_one_won(answers, 200)
    [linked] = [answer.json() for answer in answers if answer.status_code == 200]
    found = await routing.client.get("/v1/agents", params={"user_id": "bob"}, headers=ADMIN)
    assert [agent["id"] for agent in found.json()] == [linked["id"]]


async def test_concurrent_rule_sets_are_each_a_version(routing: Routing) -> None:
    answers = await asyncio.gather(
        *(
            routing.client.put(
                "/v1/routing/rules",
                headers=ADMIN,
                json={"rules": [{"id": f"r{n}", "outcome": {"required_skills": {"exports": 1}}}]},
            )
            for n in range(CONCURRENT)
        )
    )
    assert [answer.status_code for answer in answers] == [200] * CONCURRENT, [
        answer.text for answer in answers
    ]
    versions = sorted(answer.json()["version"] for answer in answers)
    assert versions == list(range(1, CONCURRENT + 1))
    current = await routing.client.get("/v1/routing/rules", headers=ADMIN)
    assert current.json()["version"] == CONCURRENT


async def test_concurrent_first_settings_and_account_managers_are_each_stored(
    routing: Routing,
) -> None:
    agent = await routing.agent("cy", None)
    answers = await asyncio.gather(
        *(
            routing.client.put(
                "/v1/routing/settings", headers=ADMIN, json={"offer_timeout_seconds": 10 + n}
            )
            for n in range(CONCURRENT)
        ),
        *(
            routing.client.put(
                "/v1/organizations/org-1/account-manager",
                headers=ADMIN,
                json={"agent_id": agent["id"]},
            )
            for _ in range(CONCURRENT)
        ),
    )
    assert [answer.status_code for answer in answers] == [200] * CONCURRENT + [204] * CONCURRENT, [
        answer.text for answer in answers
    ]
    stored = await routing.client.get("/v1/routing/settings", headers=ADMIN)
    assert stored.json()["offer_timeout_seconds"] in range(10, 10 + CONCURRENT)

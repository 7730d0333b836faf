"""Concurrent requests creating one thing (a tenant, a team, a user's email): one wins, the
others get the 409 a later duplicate gets (the database's unique key decides), never a 500.

Run on SQLite here and on PostgreSQL by ``integration/test_concurrent_creates_postgres.py``.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable

import httpx
import pytest
from identity_support import OPERATOR_KEY, Clock, IdentityApi, UnitOfWorkFactory, bearer
from sqlalchemy.ext.asyncio import AsyncEngine

CONCURRENT = 6
OPERATOR = bearer(OPERATOR_KEY)


@pytest.fixture
async def acme(database: tuple[UnitOfWorkFactory, AsyncEngine]) -> AsyncIterator[IdentityApi]:
    """Identity's routes on ``database``, with tenant ``acme`` and its admin signed in."""
    unit_of_work, engine = database
    clock = Clock()
    transport = httpx.ASGITransport(app=IdentityApi.app(unit_of_work, clock))
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
        api = IdentityApi(client, engine, clock)
        await api.create_tenant("acme", admin_email="root@acme.test")
        api.admin = await api.login("acme", "root@acme.test")
        yield api


async def one_wins(requests: list[Awaitable[httpx.Response]], won: int, detail: str) -> None:
    answers = await asyncio.gather(*requests)
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [won] + [409] * (len(answers) - 1), [answer.text for answer in answers]
    for answer in answers:
        if answer.status_code == 409:
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["detail"] == detail


async def test_concurrent_creates_of_one_tenant_create_it_once(acme: IdentityApi) -> None:
    body = {"tenant_id": "globex", "name": "Globex"}
    await one_wins(
        [acme.client.post("/v1/tenants", headers=OPERATOR, json=body) for _ in range(CONCURRENT)],
        201,
        "tenant globex exists",
    )


async def test_concurrent_creates_of_one_team_create_it_once(acme: IdentityApi) -> None:
    body = {"team_id": "tier1", "name": "Tier 1"}
    await one_wins(
        [
            acme.client.post("/v1/teams", headers=bearer(acme.admin), json=body)
            for _ in range(CONCURRENT)
        ],
        201,
        "team tier1 exists",
    )


async def test_concurrent_users_with_one_email_create_one(acme: IdentityApi) -> None:
    body = {"name": "Ann", "email": "ann@acme.test", "role": "agent"}
    await one_wins(
        [
            acme.client.post("/v1/users", headers=bearer(acme.admin), json=body)
            for _ in range(CONCURRENT)
        ],
        201,
        "a user with email ann@acme.test exists",
    )
    users = (await acme.client.get("/v1/users", headers=bearer(acme.admin))).json()
    assert [user["email"] for user in users].count("ann@acme.test") == 1


async def test_concurrent_changes_to_one_email_change_one(acme: IdentityApi) -> None:
    people = [
        (
            await acme.client.post(
                "/v1/users",
                headers=bearer(acme.admin),
                json={"name": f"Bob {n}", "email": f"bob{n}@acme.test", "role": "agent"},
            )
        ).json()
        for n in range(CONCURRENT)
    ]
    await one_wins(
        [
            acme.client.patch(
                f"/v1/users/{person['user_id']}",
                headers=bearer(acme.admin),
                json={"email": "bob@acme.test"},
            )
            for person in people
        ],
        200,
        "a user with email bob@acme.test exists",
    )

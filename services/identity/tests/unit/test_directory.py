"""Tenants, users and teams through the API, with identity's own permission table."""

from identity_support import OPERATOR_KEY, PASSWORD, IdentityApi, bearer

from helpline_identity.adapters.orm import metadata
from helpline_shared.runtime.testing import outbox_events


async def test_only_the_operator_manages_tenants(identity: IdentityApi) -> None:
    listed = await identity.client.get("/v1/tenants", headers=bearer(OPERATOR_KEY))
    assert [t["tenant_id"] for t in listed.json()] == ["acme"]
    denied = await identity.client.post(
        "/v1/tenants", headers=bearer(identity.admin), json={"tenant_id": "evil", "name": "Evil"}
    )
    assert denied.status_code == 403
    assert (await identity.client.get("/v1/tenants")).status_code == 401


async def test_a_suspended_tenants_people_are_refused_until_resumed(identity: IdentityApi) -> None:
    suspend = await identity.client.post("/v1/tenants/acme/suspend", headers=bearer(OPERATOR_KEY))
    assert suspend.json()["state"] == "suspended"
    assert (
        await identity.client.get("/v1/users", headers=bearer(identity.admin))
    ).status_code == 401
    login = await identity.client.post(
        "/v1/login", json={"tenant": "acme", "email": "root@acme.test", "password": PASSWORD}
    )
    assert login.status_code == 401
    await identity.client.post("/v1/tenants/acme/resume", headers=bearer(OPERATOR_KEY))
    assert (
        await identity.client.get("/v1/users", headers=bearer(identity.admin))
    ).status_code == 200


async def test_deleting_a_tenant_removes_its_people(identity: IdentityApi) -> None:
    response = await identity.client.delete("/v1/tenants/acme", headers=bearer(OPERATOR_KEY))
    assert response.status_code == 204
    assert (await identity.client.get("/v1/tenants", headers=bearer(OPERATOR_KEY))).json() == []
    assert (
        await identity.client.post(
            "/v1/login", json={"tenant": "acme", "email": "root@acme.test", "password": PASSWORD}
        )
    ).status_code == 401


async def test_an_agent_reads_only_themself_and_manages_nothing(identity: IdentityApi) -> None:
    await identity.create_user("ann@acme.test")
    agent = await identity.login("acme", "ann@acme.test")
    users = (await identity.client.get("/v1/users", headers=bearer(agent))).json()
    assert [u["email"] for u in users] == ["ann@acme.test"]
    for method, path, body in [
        ("POST", "/v1/users", {"name": "X", "email": "x@acme.test", "role": "admin"}),
        ("POST", "/v1/api-keys", {"name": "k", "scopes": ["admin"]}),
        ("POST", "/v1/teams", {"team_id": "t", "name": "T"}),
        ("GET", "/v1/audit", None),
        ("GET", "/v1/api-keys", None),
    ]:
        response = await identity.client.request(method, path, json=body, headers=bearer(agent))
        assert response.status_code == 403, (method, path)
    denials = (
        await identity.client.get(
            "/v1/audit", params={"action": "permission.denied"}, headers=bearer(identity.admin)
        )
    ).json()["entries"]
    assert len(denials) == 5 and {d["actor"] for d in denials} == {f"user:{users[0]['user_id']}"}


async def test_a_lead_reads_the_members_of_their_teams_only(identity: IdentityApi) -> None:
    for team in ("billing", "tech"):
        assert (
            await identity.client.post(
                "/v1/teams",
                headers=bearer(identity.admin),
                json={"team_id": team, "name": team.title()},
            )
        ).status_code == 201
    await identity.create_user("lea@acme.test", role="lead", teams=("billing",))
    await identity.create_user("bill@acme.test", teams=("billing",))
    other = await identity.create_user("tess@acme.test", teams=("tech",))
    lead = await identity.login("acme", "lea@acme.test")
    seen = {
        u["email"] for u in (await identity.client.get("/v1/users", headers=bearer(lead))).json()
    }
    assert seen == {"lea@acme.test", "bill@acme.test"}
    assert (
        await identity.client.get(f"/v1/users/{other['user_id']}", headers=bearer(lead))
    ).status_code == 404
    teams = (await identity.client.get("/v1/teams", headers=bearer(lead))).json()
    assert [t["team_id"] for t in teams] == ["billing"]


async def test_writes_publish_identity_events(identity: IdentityApi) -> None:
    user = await identity.create_user("ann@acme.test")
    await identity.client.patch(
        f"/v1/users/{user['user_id']}", json={"active": False}, headers=bearer(identity.admin)
    )
    events = await outbox_events(identity.engine, metadata)
    types = [e.type for e in events]
    assert types == [
        "helpline.identity.tenant.created.v1",
        "helpline.identity.user.created.v1",
        "helpline.identity.user.created.v1",
        "helpline.identity.user.deactivated.v1",
        "helpline.identity.user.updated.v1",
    ]
    assert {e.subject for e in events} == {"acme"}, "identity events are keyed by tenant"


async def test_bad_input_is_a_problem_naming_the_field(identity: IdentityApi) -> None:
    response = await identity.client.post(
        "/v1/users",
        headers=bearer(identity.admin),
        json={"name": "Eve\u202e", "email": "eve@acme.test", "role": "superuser"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"name", "role"}
    short = await identity.client.post(
        "/v1/users",
        headers=bearer(identity.admin),
        json={"name": "Eve", "email": "eve@acme.test", "role": "agent", "password": "short"},
    )
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "password"


async def test_a_duplicate_email_is_a_conflict(identity: IdentityApi) -> None:
    await identity.create_user("ann@acme.test")
    response = await identity.client.post(
        "/v1/users",
        headers=bearer(identity.admin),
        json={"name": "Ann", "email": "ANN@acme.test", "role": "agent"},
    )
    assert response.status_code == 409

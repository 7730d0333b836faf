"""API keys: shown once, stored as a hash, listed without secret, revoked, introspected."""

import hashlib

from identity_support import IdentityApi, bearer
from sqlalchemy import text


async def test_a_key_is_shown_once_and_stored_only_as_its_hash(identity: IdentityApi) -> None:
    created = await identity.create_key("tickets:read")
    assert created["key"].startswith("hlk_") and created["key"].startswith(created["prefix"])
    async with identity.engine.connect() as connection:
        stored = (await connection.execute(text("SELECT * FROM api_keys"))).mappings().one()
    assert created["key"] not in {str(value) for value in stored.values()}
    assert stored["key_hash"] == hashlib.sha256(created["key"].encode()).hexdigest()
    listed = (await identity.client.get("/v1/api-keys", headers=bearer(identity.admin))).json()
    assert listed[0]["prefix"] == created["prefix"] and "key" not in listed[0]
    assert listed[0]["scopes"] == ["tickets:read"]


async def test_introspection_tells_an_active_key_then_a_revoked_one(identity: IdentityApi) -> None:
    created = await identity.create_key("tickets:read", "tickets:write")
    active = (await identity.client.post("/v1/introspect", json={"token": created["key"]})).json()
    assert active["active"] is True and active["tenant_id"] == "acme"
    assert active["scopes"] == ["tickets:read", "tickets:write"]
    listed = (await identity.client.get("/v1/api-keys", headers=bearer(identity.admin))).json()
    assert listed[0]["last_used_at"] is not None
    assert (
        await identity.client.delete(
            f"/v1/api-keys/{created['id']}", headers=bearer(identity.admin)
        )
    ).status_code == 204
    assert (
        await identity.client.post("/v1/introspect", json={"token": created["key"]})
    ).json() == {"active": False}
    revocations = (await identity.client.get("/v1/revocations")).json()
    assert revocations["api_keys"] == [created["id"]]


async def test_an_expired_key_is_inactive(identity: IdentityApi) -> None:
    created = await identity.create_key("tickets:read", expires_at=identity.clock().isoformat())
    assert (
        await identity.client.post("/v1/introspect", json={"token": created["key"]})
    ).json() == {"active": False}


async def test_an_admin_key_manages_users_but_a_read_key_does_not(identity: IdentityApi) -> None:
    admin_key = (await identity.create_key("admin"))["key"]
    read_key = (await identity.create_key("tickets:read"))["key"]
    body = {"name": "Kay", "email": "kay@acme.test", "role": "agent"}
    assert (
        await identity.client.post("/v1/users", json=body, headers=bearer(admin_key))
    ).status_code == 201
    assert (
        await identity.client.post(
            "/v1/users", json={**body, "email": "k2@acme.test"}, headers=bearer(read_key)
        )
    ).status_code == 403
    audit = (
        await identity.client.get(
            "/v1/audit", params={"action": "user.create"}, headers=bearer(identity.admin)
        )
    ).json()["entries"]
    assert audit[0]["actor"].startswith("api_key:")


async def test_a_key_bound_to_a_user_dies_with_their_account(identity: IdentityApi) -> None:
    user = await identity.create_user("ann@acme.test")
    created = await identity.create_key("tickets:read", user_id=user["user_id"])
    await identity.client.patch(
        f"/v1/users/{user['user_id']}", json={"active": False}, headers=bearer(identity.admin)
    )
    assert (
        await identity.client.post("/v1/introspect", json={"token": created["key"]})
    ).json() == {"active": False}


async def test_an_unknown_scope_is_refused(identity: IdentityApi) -> None:
    response = await identity.client.post(
        "/v1/api-keys", headers=bearer(identity.admin), json={"name": "k", "scopes": ["root"]}
    )
    assert response.status_code == 422 and response.json()["errors"][0]["field"].startswith(
        "scopes"
    )

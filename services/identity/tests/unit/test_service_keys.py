"""Service keys: the operator issues them, shown once and stored as a hash, like API keys.

A service key belongs to no tenant: identity introspects it as ``kind="service"`` for the shared
verifier, which lets it act for the tenant its request names. Revoked, it is inactive and listed
in the revocations; every step is audited.
"""

import hashlib

import httpx
import pytest
from identity_support import OPERATOR_KEY, IdentityApi, bearer
from sqlalchemy import text

from helpline_shared.runtime.credentials import CredentialVerifier, InvalidCredential

OPERATOR = bearer(OPERATOR_KEY)


async def create(
    identity: IdentityApi, service: str = "escalation", scopes: tuple[str, ...] = ("tickets:write",)
) -> dict[str, object]:
    response = await identity.client.post(
        "/v1/service-keys", headers=OPERATOR, json={"service": service, "scopes": list(scopes)}
    )
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


async def test_a_service_key_lives_from_creation_to_revocation(identity: IdentityApi) -> None:
    created = await create(identity)
    key = str(created["key"])
    assert key.startswith("hlk_") and key.startswith(str(created["prefix"]))
    assert (created["service"], created["scopes"]) == ("escalation", ["tickets:write"])
    async with identity.engine.connect() as connection:
        stored = (
            await connection.execute(
                text("SELECT key_hash FROM api_keys WHERE key_id = :id"), {"id": created["id"]}
            )
        ).one()
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()

    introspected = (await identity.client.post("/v1/introspect", json={"token": key})).json()
    assert introspected == {
        "active": True,
        "key_id": created["id"],
        "service": "escalation",
        "scopes": ["tickets:write"],
        "tenant_id": None,
    }
    listed = (await identity.client.get("/v1/service-keys", headers=OPERATOR)).json()
    assert [(k["id"], k["service"], k["prefix"]) for k in listed] == [
        (created["id"], "escalation", created["prefix"])
    ]
    assert "key" not in listed[0] and listed[0]["last_used_at"] is not None

    assert (
        await identity.client.delete(f"/v1/service-keys/{created['id']}", headers=OPERATOR)
    ).status_code == 204
    assert (await identity.client.post("/v1/introspect", json={"token": key})).json() == {
        "active": False
    }
    assert created["id"] in (await identity.client.get("/v1/revocations")).json()["api_keys"]


async def test_the_shared_verifier_takes_a_service_key_as_a_service_principal(
    identity: IdentityApi,
) -> None:
    created = await create(identity, "escalation", ("tickets:read", "tickets:write"))
    transport = identity.client._transport
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
        verifier = CredentialVerifier("http://identity", "unused", client=client)
        principal = await verifier.verify(str(created["key"]))
        assert (principal.kind, principal.credential_id, principal.scopes) == (
            "service",
            created["id"],
            frozenset({"tickets:read", "tickets:write"}),
        )
        await identity.client.delete(f"/v1/service-keys/{created['id']}", headers=OPERATOR)
        verifier.key_ttl = verifier.revocations_ttl = 0
        with pytest.raises(InvalidCredential):
            await verifier.verify(str(created["key"]))


async def test_only_the_operator_manages_service_keys(identity: IdentityApi) -> None:
    admin_key = (await identity.create_key("admin"))["key"]
    for headers in (bearer(identity.admin), bearer(admin_key)):
        assert (
            await identity.client.post(
                "/v1/service-keys",
                headers=headers,
                json={"service": "escalation", "scopes": ["tickets:write"]},
            )
        ).status_code == 403
        assert (await identity.client.get("/v1/service-keys", headers=headers)).status_code == 403
    created = await create(identity)
    assert (
        await identity.client.delete(
            f"/v1/service-keys/{created['id']}", headers=bearer(identity.admin)
        )
    ).status_code == 403
    assert (
        await identity.client.delete("/v1/service-keys/nope", headers=OPERATOR)
    ).status_code == 404


async def test_a_service_key_is_no_credential_at_identity_itself(identity: IdentityApi) -> None:
    created = await create(identity, scopes=("admin",))
    service = bearer(str(created["key"]))
    assert (await identity.client.get("/v1/api-keys", headers=service)).status_code == 403
    assert (await identity.client.get("/v1/service-keys", headers=service)).status_code == 403
    assert (await identity.client.get("/v1/api-keys", headers=bearer(identity.admin))).json() == []


async def test_a_service_key_is_refused_an_unknown_service_name_or_scope(
    identity: IdentityApi,
) -> None:
    for body in (
        {"service": "Escalation!", "scopes": ["tickets:write"]},
        {"service": "escalation", "scopes": ["root"]},
        {"service": "escalation", "scopes": []},
    ):
        response = await identity.client.post("/v1/service-keys", headers=OPERATOR, json=body)
        assert response.status_code == 422, body


async def test_service_keys_are_audited_without_a_tenant(identity: IdentityApi) -> None:
    created = await create(identity)
    await identity.client.delete(f"/v1/service-keys/{created['id']}", headers=OPERATOR)
    async with identity.engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT actor, action, target, tenant_id FROM audit_log "
                    "WHERE action LIKE 'service_key.%' ORDER BY id"
                )
            )
        ).all()
    target = f"service_key:{created['id']}"
    assert [tuple(row) for row in rows] == [
        ("operator", "service_key.create", target, None),
        ("operator", "service_key.revoke", target, None),
    ]

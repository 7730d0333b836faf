"""The shared verifier against identity's real API (in-process): offline JWTs, keys, revocation."""

from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from fastapi import FastAPI
from identity_support import ISSUER, OPERATOR_KEY, IdentityApi, bearer

from helpline_shared.runtime.auth import require
from helpline_shared.runtime.credentials import (
    CredentialVerifier,
    IdentityUnavailable,
    InvalidCredential,
    Principal,
)


class Monotonic:
    """The verifier's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingTransport(httpx.AsyncBaseTransport):
    """Passes requests to identity, counting them by path; can be cut off."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.paths: list[str] = []
        self.down = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if self.down:
            raise httpx.ConnectError("identity is down")
        return await self.inner.handle_async_request(request)


@pytest.fixture
def wire(identity: IdentityApi) -> CountingTransport:
    transport = identity.client._transport
    assert isinstance(transport, httpx.AsyncBaseTransport)
    return CountingTransport(transport)


@pytest.fixture
async def verifier(wire: CountingTransport) -> AsyncIterator[CredentialVerifier]:
    async with httpx.AsyncClient(transport=wire, base_url="http://identity") as client:
        yield CredentialVerifier("http://identity", ISSUER, client=client, clock=Monotonic())


def advance(verifier: CredentialVerifier, seconds: float) -> None:
    clock = verifier.clock
    assert isinstance(clock, Monotonic)
    clock.now += seconds


async def test_a_person_is_verified_offline_after_the_first_jwks_fetch(
    identity: IdentityApi, verifier: CredentialVerifier, wire: CountingTransport
) -> None:
    principal = await verifier.verify(identity.admin)
    assert (principal.kind, principal.tenant_id, principal.role) == ("person", "acme", "admin")
    assert principal.scopes == frozenset()  # people hold permissions by role, not scope
    for _ in range(5):
        await verifier.verify(identity.admin)
    assert wire.paths.count("/.well-known/jwks.json") == 1
    assert "/v1/introspect" not in wire.paths


async def test_rotation_fails_no_verification_and_unknown_kids_refetch_at_a_bounded_rate(
    identity: IdentityApi, verifier: CredentialVerifier, wire: CountingTransport
) -> None:
    old_token = identity.admin
    await verifier.verify(old_token)
    await identity.client.post("/v1/signing-keys/rotate", headers=bearer(OPERATOR_KEY))
    new_token = await identity.login("acme", "root@acme.test")
    assert (
        jwt.get_unverified_header(new_token)["kid"] != jwt.get_unverified_header(old_token)["kid"]
    )
    # In production the new key is published a lead (>= min_refresh) before it signs; this
    # API signs at once, so the lead is played on the verifier's clock.
    advance(verifier, verifier.min_refresh)
    assert (await verifier.verify(new_token)).user_id == (await verifier.verify(old_token)).user_id
    fetches = wire.paths.count("/.well-known/jwks.json")
    assert fetches == 2
    forged = jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256", headers={"kid": "made-up"})
    for _ in range(10):
        with pytest.raises(InvalidCredential):
            await verifier.verify(forged)
    assert wire.paths.count("/.well-known/jwks.json") == fetches, "refetches are rate-bounded"


async def test_a_revoked_key_is_refused_within_its_cache_time(
    identity: IdentityApi, verifier: CredentialVerifier
) -> None:
    created = await identity.create_key("tickets:read")
    principal = await verifier.verify(created["key"])
    assert (principal.kind, principal.scopes) == ("integration", frozenset({"tickets:read"}))
    await identity.client.delete(f"/v1/api-keys/{created['id']}", headers=bearer(identity.admin))
    assert verifier.key_ttl + verifier.revocations_ttl < 5
    advance(verifier, max(verifier.key_ttl, verifier.revocations_ttl))
    with pytest.raises(InvalidCredential, match="revoked"):
        await verifier.verify(created["key"])


async def test_a_suspended_tenant_and_a_deactivated_user_are_refused_within_a_second(
    identity: IdentityApi, verifier: CredentialVerifier
) -> None:
    user = await identity.create_user("ann@acme.test")
    agent = await identity.login("acme", "ann@acme.test")
    await verifier.verify(agent)
    await identity.client.patch(
        f"/v1/users/{user['user_id']}", json={"active": False}, headers=bearer(identity.admin)
    )
    advance(verifier, verifier.revocations_ttl)
    with pytest.raises(InvalidCredential, match="deactivated"):
        await verifier.verify(agent)
    await verifier.verify(identity.admin)
    await identity.client.post("/v1/tenants/acme/suspend", headers=bearer(OPERATOR_KEY))
    advance(verifier, verifier.revocations_ttl)
    with pytest.raises(InvalidCredential, match="suspended"):
        await verifier.verify(identity.admin)


async def test_without_identity_the_cache_serves_until_it_is_too_stale(
    identity: IdentityApi, verifier: CredentialVerifier, wire: CountingTransport
) -> None:
    await verifier.verify(identity.admin)
    wire.down = True
    advance(verifier, verifier.revocations_ttl)
    assert (await verifier.verify(identity.admin)).tenant_id == "acme"
    advance(verifier, verifier.max_staleness)
    with pytest.raises(IdentityUnavailable):
        await verifier.verify(identity.admin)


async def test_the_fastapi_dependency_answers_401_403_and_the_principal(
    identity: IdentityApi, verifier: CredentialVerifier
) -> None:
    app = FastAPI()

    app.state.verifier = verifier

    @app.get("/write")
    async def write(principal: Principal = require("tickets.create")) -> str:
        return principal.actor

    read_key = (await identity.create_key("tickets:read"))["key"]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        assert (await client.get("/write")).status_code == 401
        assert (await client.get("/write", headers=bearer("garbage"))).status_code == 401
        assert (await client.get("/write", headers=bearer(read_key))).status_code == 403
        allowed = await client.get("/write", headers=bearer(identity.admin))
        assert allowed.status_code == 200 and allowed.json().startswith("user:")

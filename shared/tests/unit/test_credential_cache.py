"""What a verifier caches: verified tokens until they expire, a key's introspection for
``key_ttl`` (one for concurrent callers), never what revocation decides."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from helpline_shared.runtime import credentials
from helpline_shared.runtime.credentials import CredentialVerifier, InvalidCredential
from helpline_shared.runtime.testing import stand_in_identity

IDENTITY = stand_in_identity()


class Clock:
    """The verifier's monotonic clock, moved on by the test."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Counted(CredentialVerifier):
    """A verifier counting what it asks identity, by path."""

    asked: Counter[str]

    async def _request(self, method: str, path: str, **options: Any) -> Any:
        self.asked[path] += 1
        return await super()._request(method, path, **options)


@pytest.fixture
async def verifier() -> AsyncIterator[Counted]:
    async with httpx.AsyncClient() as client:
        made = Counted(IDENTITY.url, IDENTITY.issuer, client=client, clock=Clock())
        made.asked = Counter()
        yield made


async def test_a_verified_token_is_not_verified_again_until_it_expires(
    verifier: Counted, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[str] = []
    verify = credentials.verified_claims

    def counted(token: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        decoded.append(token)
        return verify(token, *args, **kwargs)

    monkeypatch.setattr(credentials, "verified_claims", counted)
    token = IDENTITY.person("acme", "agent", user_id="u-1")
    for _ in range(5):
        assert (await verifier.verify(token)).user_id == "u-1"
    assert decoded == [token]
    # Its expiry ends the cache: verified again (PyJWT then judges ``exp`` by its own clock).
    verifier.wall_clock = lambda: 4_000_000_000.0
    await verifier.verify(token)
    assert len(decoded) == 2


async def test_a_cached_token_of_a_deactivated_user_is_refused_within_the_revocation_ttl(
    verifier: Counted,
) -> None:
    tenant = "t-deactivated"
    token = IDENTITY.person(tenant, "agent", user_id="u-2")
    await verifier.verify(token)
    IDENTITY.deactivate(tenant, "u-2")
    assert isinstance(verifier.clock, Clock)
    verifier.clock.now += verifier.revocations_ttl
    with pytest.raises(InvalidCredential, match="deactivated"):
        await verifier.verify(token)


async def test_concurrent_callers_with_one_key_cause_one_introspection(verifier: Counted) -> None:
    key = IDENTITY.api_key("acme", ["tickets:read"])
    principals = await asyncio.gather(*(verifier.verify(key) for _ in range(8)))
    assert {principal.tenant_id for principal in principals} == {"acme"}
    assert verifier.asked["/v1/introspect"] == 1


async def test_a_key_is_introspected_once_per_key_ttl(verifier: Counted) -> None:
    key = IDENTITY.api_key("acme", ["tickets:read"])
    clock = verifier.clock
    assert isinstance(clock, Clock)
    for _ in range(10):
        await verifier.verify(key)
        clock.now += verifier.key_ttl / 11
    assert verifier.asked["/v1/introspect"] == 1
    clock.now += verifier.key_ttl
    await verifier.verify(key)
    assert verifier.asked["/v1/introspect"] == 2


async def test_a_revoked_key_is_refused_by_the_list_while_its_introspection_is_cached(
    verifier: Counted,
) -> None:
    key = IDENTITY.api_key("acme", ["tickets:read"])
    await verifier.verify(key)
    IDENTITY.revoke(key)
    assert isinstance(verifier.clock, Clock)
    assert verifier.revocations_ttl < verifier.key_ttl
    verifier.clock.now += verifier.revocations_ttl
    with pytest.raises(InvalidCredential, match="revoked"):
        await verifier.verify(key)
    assert verifier.asked["/v1/introspect"] == 1

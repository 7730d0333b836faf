"""Identity's rules without I/O: login throttling, which key signs, claim mapping."""

from datetime import UTC, datetime, timedelta

import pytest

from helpline_identity.adapters.oidc import map_claims
from helpline_identity.config import OidcProvider
from helpline_identity.domain.errors import InvalidCredentials
from helpline_identity.domain.model import LoginThrottle, SigningKey, rotation_times, signing_key_at
from helpline_identity.domain.permissions import Caller, allowed, may_see_user

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_the_throttle_locks_after_max_failures_within_the_window() -> None:
    throttle = LoginThrottle(max_failures=3, window=timedelta(minutes=10))
    failures = [NOW - timedelta(minutes=minutes) for minutes in (9, 5, 1)]
    assert throttle.retry_after(failures[1:], NOW) is None
    assert throttle.retry_after(failures, NOW) == 61
    assert throttle.retry_after(failures, NOW + timedelta(minutes=2)) is None


def key(kid: str, signs_from: datetime, retire_at: datetime | None = None) -> SigningKey:
    return SigningKey(kid, b"", {}, NOW - timedelta(days=1), signs_from, retire_at)


def test_the_newest_key_whose_time_has_come_signs() -> None:
    signs_from, retire_at = rotation_times(NOW, timedelta(minutes=1), timedelta(minutes=10))
    assert retire_at == signs_from + timedelta(minutes=11)
    keys = [key("old", NOW - timedelta(days=1), retire_at), key("new", signs_from)]
    assert signing_key_at(keys, NOW).kid == "old"  # type: ignore[union-attr]
    assert signing_key_at(keys, signs_from).kid == "new"  # type: ignore[union-attr]
    assert keys[0].published(retire_at - timedelta(seconds=1))
    assert not keys[0].published(retire_at)


PROVIDER = OidcProvider(
    issuer="https://idp.test",
    client_id="c",
    redirect_uri="https://x/cb",
    tenant="acme",
    role_map={"helpline-leads": "lead", "helpline-admins": "admin"},
)


def test_claims_map_to_the_strongest_role() -> None:
    person = map_claims(
        PROVIDER,
        {
            "email": "a@acme.test",
            "email_verified": True,
            "groups": ["helpline-leads", "helpline-admins", "x"],
        },
    )
    assert (person.tenant_id, person.role) == ("acme", "admin")


def test_no_mapped_role_and_no_default_is_refused() -> None:
    with pytest.raises(InvalidCredentials):
        map_claims(PROVIDER, {"email": "a@acme.test", "groups": ["x"]})
    fallback = PROVIDER.model_copy(update={"default_role": "agent"})
    assert map_claims(fallback, {"email": "a@acme.test"}).role == "agent"


def test_an_unverified_email_or_a_missing_tenant_is_refused() -> None:
    with pytest.raises(InvalidCredentials):
        map_claims(PROVIDER, {"email": "a@acme.test", "email_verified": False})
    per_claim = PROVIDER.model_copy(update={"tenant": None})
    with pytest.raises(InvalidCredentials):
        map_claims(per_claim, {"email": "a@acme.test", "groups": ["helpline-leads"]})
    assert (
        map_claims(
            per_claim,
            {"email": "a@acme.test", "groups": ["helpline-leads"], "helpline_tenant": "beta"},
        ).tenant_id
        == "beta"
    )


def test_the_permission_table() -> None:
    lead = Caller("person", "acme", "u1", "lead", teams=frozenset({"billing"}))
    agent = Caller("person", "acme", "u2", "agent")
    assert allowed(lead, "users.read") and not allowed(lead, "users.manage")
    assert not allowed(agent, "teams.read") and allowed(agent, "users.read")
    assert may_see_user(lead, "u9", ("billing",)) and not may_see_user(lead, "u9", ("tech",))
    assert may_see_user(agent, "u2", ()) and not may_see_user(agent, "u1", ("billing",))
    operator = Caller("operator", None)
    assert allowed(operator, "tenants.manage") and not allowed(operator, "users.manage")
    key = Caller("integration", "acme", scopes=frozenset({"tickets:read"}))
    assert not allowed(key, "users.read")

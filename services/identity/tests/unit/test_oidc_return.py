"""OIDC sign-in for browsers: return_to allow-list, one-time codes bound to a client state."""

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from identity_support import Clock, IdentityApi, UnitOfWorkFactory, bearer
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_identity.adapters.oidc import Identity, OidcClient
from helpline_identity.domain.errors import InvalidCredentials

RETURN = "http://workspace.test/signin/oidc/callback"
STATE = "client-state-0123456789abcdef"
PROVIDER = {
    "issuer": "https://idp.test",
    "client_id": "helpline",
    "tenant": "acme",
    "redirect_uri": "http://identity/v1/oidc/corp/callback",
    "display_name": "Corp SSO",
    "role_map": {"leads": "lead"},
}
METADATA = {
    "issuer": "https://idp.test",
    "authorization_endpoint": "https://idp.test/auth",
    "token_endpoint": "https://idp.test/token",
    "jwks_uri": "https://idp.test/jwks",
}


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A provider that vouches for ann when given the code ``good`` (codes it saw, in order)."""
    seen: list[str] = []

    async def metadata(self: OidcClient) -> dict[str, Any]:
        return METADATA

    async def exchange(self: OidcClient, code: str, verifier: str, nonce: str) -> Identity:
        seen.append(code)
        if code != "good":
            raise InvalidCredentials("the provider's answer was refused")
        return Identity("acme", "ann@acme.test", "Ann", "lead")

    monkeypatch.setattr(OidcClient, "metadata", metadata)
    monkeypatch.setattr(OidcClient, "exchange", exchange)
    return seen


@pytest.fixture
async def identity(
    database: tuple[UnitOfWorkFactory, AsyncEngine], clock: Clock, provider: list[str]
) -> AsyncIterator[IdentityApi]:
    """Identity with provider ``corp`` and the workspace's callback on the allow-list."""
    unit_of_work, engine = database
    app = IdentityApi.app(
        unit_of_work,
        clock,
        oidc_providers={"corp": PROVIDER},
        oidc_return_urls=[RETURN],
        oidc_code_seconds=60,
    )
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
        api = IdentityApi(client, engine, clock)
        await api.create_tenant("acme", admin_email="root@acme.test")
        yield api


async def start(identity: IdentityApi, **params: str) -> httpx.Response:
    """Begin a sign-in at ``corp``."""
    return await identity.client.get("/v1/oidc/corp/login", params=params)


async def come_back(
    identity: IdentityApi, code: str = "good", return_to: str = RETURN
) -> dict[str, str]:
    """Sign in at ``corp`` returning to ``return_to``: the query the browser is sent back with."""
    begun = await start(identity, return_to=return_to, client_state=STATE)
    assert begun.status_code == 302, begun.text
    state = parse_qs(urlsplit(begun.headers["location"]).query)["state"][0]
    back = await identity.client.get(
        "/v1/oidc/corp/callback", params={"code": code, "state": state}
    )
    assert back.status_code == 303, back.text
    assert back.headers["location"].startswith(RETURN + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(back.headers["location"]).query).items()}


async def test_the_providers_are_listed_for_sign_in_pages(identity: IdentityApi) -> None:
    response = await identity.client.get("/v1/oidc/providers")
    assert response.status_code == 200
    assert response.json() == [{"name": "corp", "display_name": "Corp SSO"}]


async def test_a_return_url_not_on_the_allow_list_is_refused_with_a_problem(
    identity: IdentityApi,
) -> None:
    for url in ("https://evil.test/signin/oidc/callback", RETURN + "?x=1", RETURN + "/"):
        response = await start(identity, return_to=url, client_state=STATE)
        assert response.status_code == 400, url
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"].startswith("return_to:")


async def test_a_return_url_needs_a_client_state(identity: IdentityApi) -> None:
    response = await start(identity, return_to=RETURN)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("client_state:")
    short = await start(identity, return_to=RETURN, client_state="short")
    assert short.status_code == 422


async def test_the_callback_returns_the_browser_with_a_code_that_signs_in_once(
    identity: IdentityApi,
) -> None:
    back = await come_back(identity)
    assert back["state"] == STATE and "access_token" not in back
    exchanged = await identity.client.post(
        "/v1/oidc/exchange", json={"code": back["code"], "state": STATE}
    )
    assert exchanged.status_code == 200, exchanged.text
    tokens = exchanged.json()
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert (claims["tenant"], claims["role"]) == ("acme", "lead")
    me = (await identity.client.get("/v1/me", headers=bearer(tokens["access_token"]))).json()
    assert me["email"] == "ann@acme.test"
    again = await identity.client.post(
        "/v1/oidc/exchange", json={"code": back["code"], "state": STATE}
    )
    assert again.status_code == 401, "a code is used once"


async def test_a_code_expires_after_its_lifetime(identity: IdentityApi) -> None:
    back = await come_back(identity)
    identity.clock.advance(seconds=61)
    late = await identity.client.post(
        "/v1/oidc/exchange", json={"code": back["code"], "state": STATE}
    )
    assert late.status_code == 401
    fresh = await come_back(identity)
    identity.clock.advance(seconds=59)
    in_time = await identity.client.post(
        "/v1/oidc/exchange", json={"code": fresh["code"], "state": STATE}
    )
    assert in_time.status_code == 200


async def test_a_code_is_bound_to_its_client_state_and_burnt_by_a_wrong_one(
    identity: IdentityApi,
) -> None:
    back = await come_back(identity)
    other = await identity.client.post(
        "/v1/oidc/exchange", json={"code": back["code"], "state": "someone-elses-state-0123456789"}
    )
    assert other.status_code == 401
    right = await identity.client.post(
        "/v1/oidc/exchange", json={"code": back["code"], "state": STATE}
    )
    assert right.status_code == 401, "a code presented with a wrong state is gone"


async def test_a_made_up_code_is_refused_and_the_code_is_stored_hashed(
    identity: IdentityApi,
) -> None:
    back = await come_back(identity)
    made_up = await identity.client.post(
        "/v1/oidc/exchange", json={"code": "x" * 43, "state": STATE}
    )
    assert made_up.status_code == 401
    async with identity.engine.connect() as connection:
        stored = (await connection.exec_driver_sql("SELECT * FROM oidc_codes")).all()
    assert len(stored) == 1 and back["code"] not in repr(stored)


async def test_a_refused_provider_answer_returns_the_browser_with_an_error(
    identity: IdentityApi,
) -> None:
    back = await come_back(identity, code="bad")
    assert back == {"error": "access_denied", "state": STATE}


async def test_without_return_to_the_callback_still_answers_tokens(identity: IdentityApi) -> None:
    begun = await start(identity)
    state = parse_qs(urlsplit(begun.headers["location"]).query)["state"][0]
    done = await identity.client.get(
        "/v1/oidc/corp/callback", params={"code": "good", "state": state}
    )
    assert done.status_code == 200
    assert set(done.json()) >= {"access_token", "refresh_token", "expires_in"}

"""Signing in with an OIDC provider through identity, with identity faked."""

import json
from typing import Any

import httpx
from fastapi.testclient import TestClient
from workspace_support import FakeServices, workspace

from helpline_workspace.sessions import SESSION_COOKIE

PROVIDER_URL = "https://idp.test/auth"
CALLBACK = "http://testserver/signin/oidc/callback"


class FakeIdentityOidc:
    """Identity's OIDC routes: a code per started sign-in, each exchangeable once."""

    def __init__(self, fake: FakeServices, email: str = "ann@acme.example") -> None:
        self.email = email
        self.started: list[dict[str, str]] = []
        self.codes: dict[str, str] = {}
        self.issued = 0
        fake.route(
            "GET",
            "identity",
            "/v1/oidc/providers",
            lambda request: [{"name": "keycloak", "display_name": "Keycloak"}],
        )
        fake.route("GET", "identity", "/v1/oidc/keycloak/login", self.login)
        fake.route("POST", "identity", "/v1/oidc/exchange", self.exchange)

    def login(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        if params.get("return_to") != CALLBACK:
            return httpx.Response(400, json={"detail": "return_to: not allowed"})
        self.started.append(params)
        return httpx.Response(302, headers={"location": PROVIDER_URL + "?state=idp-state"})

    def come_back(self, started: int = -1) -> str:
        """Where identity sends the browser after the provider: the return_to with a code."""
        self.issued += 1
        code = f"onetime{self.issued}"
        state = self.started[started]["client_state"]
        self.codes[code] = state
        return f"/signin/oidc/callback?code={code}&state={state}"

    def exchange(self, request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.read())
        if self.codes.pop(sent["code"], None) != sent["state"]:
            return httpx.Response(401, json={"detail": "unknown, used or expired sign-in code"})
        return httpx.Response(
            200,
            json={
                "access_token": f"access-{sent['code']}-{self.email}",
                "token_type": "Bearer",
                "expires_in": 600,
                "refresh_token": f"refresh-{sent['code']}-{self.email}",
                "tenant": "acme",
            },
        )


def start(client: TestClient, next: str = "/work/tickets") -> httpx.Response:
    """Press "Sign in with Keycloak"."""
    return client.get("/signin/oidc/keycloak", params={"next": next, "timezone": "Europe/Paris"})


def signed_in_people(client: TestClient) -> list[Any]:
    """Who the workspace has a signed-in session for."""
    app: Any = client.app
    return [session.person for session in app.state.sessions.signed_in()]


def test_the_sign_in_page_offers_each_provider_identity_has() -> None:
    fake = FakeServices()
    FakeIdentityOidc(fake)
    with workspace(fake) as client:
        page = client.get("/signin?next=/work/tickets")
        assert "Sign in with Keycloak" in page.text
        assert 'action="/signin/oidc/keycloak"' in page.text
        assert 'name="next" value="/work/tickets"' in page.text


def test_without_providers_the_page_is_the_password_form_alone() -> None:
    fake = FakeServices()
    fake.route("GET", "identity", "/v1/oidc/providers", lambda request: httpx.Response(503))
    with workspace(fake) as client:
        page = client.get("/signin")
        assert page.status_code == 200
        assert "Sign in with" not in page.text and 'name="password"' in page.text


def test_a_person_signs_in_through_the_provider_into_a_fresh_session() -> None:
    fake = FakeServices()
    fake.person("ann@acme.example", name="Ann", role="lead")
    identity = FakeIdentityOidc(fake)
    with workspace(fake) as client:
        begun = start(client)
        assert begun.status_code == 303
        assert begun.headers["location"].startswith(PROVIDER_URL)
        anonymous = client.cookies[SESSION_COOKIE]
        sent = identity.started[-1]
        assert sent["return_to"] == CALLBACK and len(sent["client_state"]) >= 32
        done = client.get(identity.come_back())
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/work/tickets"
        assert client.cookies[SESSION_COOKIE] != anonymous, "session id rotated"
        app: Any = client.app
        assert app.state.sessions.get(anonymous) is None, "the old id is gone"
        people = signed_in_people(client)
        assert [(p.email, p.tenant, p.role) for p in people] == [
            ("ann@acme.example", "acme", "lead")
        ]
        me = [call for call in fake.calls if call.path == "/v1/me"]
        assert me[-1].token.startswith("access-onetime1-")
        assert app.state.sessions.signed_in()[0].timezone == "Europe/Paris"


def test_a_sign_in_begun_in_another_tab_does_not_spoil_the_first() -> None:
    fake = FakeServices()
    fake.person("ann@acme.example")
    identity = FakeIdentityOidc(fake)
    with workspace(fake) as client:
        start(client, next="/work/tickets/1")
        start(client, next="/work/tickets/2")
        done = client.get(identity.come_back(started=0))
        assert done.headers["location"] == "/work/tickets/1"
        assert len(signed_in_people(client)) == 1


def test_an_offsite_next_is_replaced_by_my_work() -> None:
    fake = FakeServices()
    fake.person("ann@acme.example")
    identity = FakeIdentityOidc(fake)
    with workspace(fake) as client:
        start(client, next="//evil.test/x")
        assert client.get(identity.come_back()).headers["location"] == "/work"


def test_a_used_or_expired_code_gives_a_readable_error_and_no_session() -> None:
    fake = FakeServices()
    fake.person("ann@acme.example")
    identity = FakeIdentityOidc(fake)
    with workspace(fake) as client:
        start(client)
        back = identity.come_back()
        identity.codes.clear()  # identity forgot it: used already, or older than a minute
        answer = client.get(back)
        assert answer.status_code == 401
        assert "The sign-in with Keycloak could not be completed" in answer.text
        assert "Traceback" not in answer.text
        assert signed_in_people(client) == []


def test_a_code_for_another_browser_session_is_refused() -> None:
    fake = FakeServices()
    fake.person("mallory@acme.example")
    identity = FakeIdentityOidc(fake, email="mallory@acme.example")
    with workspace(fake) as attacker:
        victim = TestClient(attacker.app, follow_redirects=False)  # another browser, same app
        start(attacker)
        planted = identity.come_back()  # the attacker's own code and state
        start(victim)
        answer = victim.get(planted)
        assert answer.status_code == 400
        assert "not started in this browser" in answer.text
        assert signed_in_people(victim) == []
        assert not [call for call in fake.calls if call.path == "/v1/oidc/exchange"]


def test_a_callback_without_a_started_sign_in_is_refused() -> None:
    fake = FakeServices()
    FakeIdentityOidc(fake)
    with workspace(fake) as client:
        answer = client.get("/signin/oidc/callback?code=x&state=y")
        assert answer.status_code == 400
        assert "Please start again" in answer.text


def test_a_refused_sign_in_at_the_provider_says_so() -> None:
    fake = FakeServices()
    identity = FakeIdentityOidc(fake)
    with workspace(fake) as client:
        start(client)
        state = identity.started[-1]["client_state"]
        answer = client.get(f"/signin/oidc/callback?error=access_denied&state={state}")
        assert answer.status_code == 401
        assert "Keycloak did not sign you in" in answer.text


def test_an_unknown_provider_or_a_refused_start_is_a_readable_page() -> None:
    fake = FakeServices()
    FakeIdentityOidc(fake)
    with workspace(fake) as client:
        unknown = client.get("/signin/oidc/github")
        assert unknown.status_code == 404
        assert "not offered here" in unknown.text
    fake = FakeServices()
    FakeIdentityOidc(fake)
    with workspace(fake) as client:
        refused = client.get("http://elsewhere.test/signin/oidc/keycloak")
        assert refused.status_code == 502
        assert "could not be completed" in refused.text

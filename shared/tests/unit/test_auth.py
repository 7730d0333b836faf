"""Who may call a service: identity's credentials verified, the permission matrix enforced.

Every case runs against the stand-in identity (a real HTTP server signing real Ed25519 tokens and
answering introspection and revocations as identity does); time is the verifier's injected clock.
"""

import base64
import json
import socket
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from helpline_shared.permissions import PERMISSIONS, ROLES, SCOPES
from helpline_shared.runtime.auth import (
    TENANT_HEADER,
    CredentialVerifier,
    Principal,
    require,
)
from helpline_shared.runtime.problems import install_problem_handlers
from helpline_shared.runtime.testing import StandInIdentity, stand_in_identity

IDENTITY = stand_in_identity()
FOREIGN = StandInIdentity()
"""Another identity: the services never learn its signing key."""
TENANT = "acme"
PROBLEM = "application/problem+json"
ISSUE_BOUND = 5.0
"""Issue 12: a revoked credential is refused by every service within 5 seconds."""


class Clock:
    """The verifier's monotonic clock, moved on by the test."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the time on."""
        self.now += seconds


def _described(principal: Principal) -> dict[str, Any]:
    return {
        "kind": principal.kind,
        "tenant_id": principal.tenant_id,
        "user_id": principal.user_id,
        "role": principal.role,
        "scopes": sorted(principal.scopes),
    }


def _guarded(permission: str) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def route(principal: Principal = require(permission)) -> dict[str, Any]:
        return _described(principal)

    return route


def app_for(verifier: CredentialVerifier) -> FastAPI:
    """An app with one route per permission (``/may/<permission>``)."""
    app = FastAPI()
    app.state.verifier = verifier
    install_problem_handlers(app)

    for permission in PERMISSIONS:
        app.add_api_route(f"/may/{permission}", _guarded(permission), methods=["GET"])
    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    """An in-process client of ``app``."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service")


def bearer(token: str, **headers: str) -> dict[str, str]:
    """An Authorization header (and any other headers)."""
    return {"Authorization": f"Bearer {token}", **headers}


def fresh_tenant() -> str:
    """A tenant no other test suspends or uses (the stand-in lives as long as the process)."""
    return "t-" + uuid.uuid4().hex[:10]


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """``response`` is a ``status`` problem+json; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"]
    return body


@pytest.fixture
def clock() -> Clock:
    """The verifier's clock."""
    return Clock()


@pytest.fixture
def verifier(clock: Clock) -> CredentialVerifier:
    """A verifier trusting the stand-in identity, its time from ``clock``."""
    return CredentialVerifier(IDENTITY.url, IDENTITY.issuer, IDENTITY.audience, clock=clock)


@pytest.fixture
async def http(verifier: CredentialVerifier) -> httpx.AsyncClient:
    """A client of the app whose verifier is ``verifier``."""
    return client(app_for(verifier))


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = json.dumps({**claims, "role": "admin", "tenant": "other"}).encode()
    return f"{header}.{base64.urlsafe_b64encode(forged).rstrip(b'=').decode()}.{signature}"


UNUSABLE: dict[str, dict[str, str]] = {
    "missing": {},
    "garbage": bearer("not-a-token"),
    "three garbage parts": bearer("a.b.c"),
    "other scheme": {"Authorization": "Basic YWNtZTpodW50ZXIy"},
    "expired": bearer(IDENTITY.person(TENANT, "admin", lifetime=-60)),
    "wrong kid": bearer(FOREIGN.person(TENANT, "admin")),
    "tampered claims": bearer(_tampered(IDENTITY.person(TENANT, "agent"))),
    "unknown API key": bearer("hlk_" + "x" * 32),
}


@pytest.mark.parametrize("path", ["/may/tickets.create", "/may/tickets.read"])
@pytest.mark.parametrize("case", list(UNUSABLE))
async def test_a_missing_or_unusable_credential_is_a_401_problem(
    http: httpx.AsyncClient, case: str, path: str
) -> None:
    response = await http.get(path, headers=UNUSABLE[case])
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "expected",
    [{"issuer": "https://elsewhere.example"}, {"audience": "another-product"}],
    ids=["iss", "aud"],
)
async def test_a_token_for_another_issuer_or_audience_is_a_401_problem(
    expected: dict[str, str],
) -> None:
    # The token is signed with the key the verifier trusts; only its iss or aud differ.
    trusted = {"issuer": IDENTITY.issuer, "audience": IDENTITY.audience, **expected}
    app = app_for(CredentialVerifier(IDENTITY.url, **trusted))
    async with client(app) as http:
        response = await http.get(
            "/may/tickets.read", headers=bearer(IDENTITY.person(TENANT, "admin"))
        )
    assert_problem(response, 401)


async def test_a_valid_token_and_key_are_served_as_who_they_are(http: httpx.AsyncClient) -> None:
    person = await http.get(
        "/may/tickets.read", headers=bearer(IDENTITY.person(TENANT, "lead", "u-7"))
    )
    key = await http.get(
        "/may/tickets.read", headers=bearer(IDENTITY.api_key(TENANT, ["tickets:read"]))
    )
    assert person.status_code == key.status_code == 200
    assert person.json() | {"scopes": []} == {
        "kind": "person",
        "tenant_id": TENANT,
        "user_id": "u-7",
        "role": "lead",
        "scopes": [],
    }
    assert key.json() == {
        "kind": "integration",
        "tenant_id": TENANT,
        "user_id": None,
        "role": None,
        "scopes": ["tickets:read"],
    }


async def test_a_credential_lacking_the_permission_is_a_403_problem_naming_it(
    http: httpx.AsyncClient,
) -> None:
    agent = await http.get("/may/tickets.assign", headers=bearer(IDENTITY.person(TENANT)))
    reader = await http.get(
        "/may/tickets.create", headers=bearer(IDENTITY.api_key(TENANT, ["tickets:read"]))
    )
    assert "tickets.assign" in assert_problem(agent, 403)["detail"]
    assert "tickets.create" in assert_problem(reader, 403)["detail"]


async def test_people_hold_permissions_by_role_and_keys_by_scope(http: httpx.AsyncClient) -> None:
    wrong: list[str] = []
    for name, permission in PERMISSIONS.items():
        for role in ROLES:
            response = await http.get(f"/may/{name}", headers=bearer(IDENTITY.person(TENANT, role)))
            if response.status_code != (200 if role in permission.roles else 403):
                wrong.append(f"{role} on {name}: {response.status_code}")
        for scope in SCOPES:
            response = await http.get(
                f"/may/{name}", headers=bearer(IDENTITY.api_key(TENANT, [scope]))
            )
            if response.status_code != (200 if scope in permission.scopes else 403):
                wrong.append(f"key with {scope} on {name}: {response.status_code}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("credential", "permission", "status"),
    [
        (("person", "agent"), "tickets.reply", 200),
        (("person", "agent"), "agents.presence", 200),
        (("person", "agent"), "webhooks.manage", 403),
        (("person", "agent"), "subscriptions.manage", 403),
        (("person", "agent"), "users.manage", 403),
        (("person", "agent"), "api_keys.manage", 403),
        (("person", "agent"), "reports.read", 403),
        (("person", "lead"), "tickets.assign", 200),
        (("person", "lead"), "reports.read", 200),
        (("person", "lead"), "webhooks.manage", 403),
        (("person", "admin"), "audit.read", 200),
        (("person", "admin"), "tickets.import", 403),
        (("person", "owner"), "tickets.read", 403),
        (("key", "tickets:read"), "tickets.read", 200),
        (("key", "tickets:read"), "tickets.create", 403),
        (("key", "tickets:write"), "tickets.create", 200),
        (("key", "tickets:write"), "subscriptions.manage", 403),
        (("key", "reports:read"), "reports.read", 200),
        (("key", "reports:read"), "tickets.read", 403),
        (("key", "tickets:import"), "tickets.import", 200),
        (("key", "admin"), "webhooks.manage", 200),
        (("key", "admin"), "tickets.import", 403),  # the import scope must be asked for
    ],
)
async def test_the_cells_the_issue_names(
    http: httpx.AsyncClient, credential: tuple[str, str], permission: str, status: int
) -> None:
    kind, grant = credential
    token = (
        IDENTITY.person(TENANT, grant) if kind == "person" else IDENTITY.api_key(TENANT, [grant])
    )
    response = await http.get(f"/may/{permission}", headers=bearer(token))
    assert response.status_code == status, response.text


async def test_a_service_key_acts_only_for_the_tenant_its_request_names(
    http: httpx.AsyncClient,
) -> None:
    key = IDENTITY.service_key("escalation", ["tickets:write"])
    unnamed = await http.get("/may/tickets.create", headers=bearer(key))
    named = await http.get("/may/tickets.create", headers=bearer(key, **{TENANT_HEADER: "acme"}))
    other = await http.get("/may/tickets.create", headers=bearer(key, **{TENANT_HEADER: "other"}))
    overlong = await http.get(
        "/may/tickets.create", headers=bearer(key, **{TENANT_HEADER: "a" * 65})
    )
    beyond = await http.get("/may/webhooks.manage", headers=bearer(key, **{TENANT_HEADER: "acme"}))
    assert TENANT_HEADER in assert_problem(unnamed, 403)["detail"]
    assert named.status_code == 200
    assert named.json() | {"user_id": None} == {
        "kind": "service",
        "tenant_id": "acme",
        "user_id": None,
        "role": None,
        "scopes": ["tickets:write"],
    }
    assert other.json()["tenant_id"] == "other"
    assert_problem(overlong, 403)
    assert_problem(beyond, 403)


async def test_a_header_naming_a_tenant_changes_nothing_for_a_tenants_own_credential(
    http: httpx.AsyncClient,
) -> None:
    key = IDENTITY.api_key(TENANT, ["tickets:read"])
    person = IDENTITY.person(TENANT, "agent")
    for token in (key, person):
        response = await http.get(
            "/may/tickets.read", headers=bearer(token, **{TENANT_HEADER: "other"})
        )
        assert response.json()["tenant_id"] == TENANT


def test_the_revocation_ttl_is_within_the_issues_bound(verifier: CredentialVerifier) -> None:
    assert 0 < verifier.revocations_ttl <= ISSUE_BOUND


async def test_a_revoked_key_is_refused_within_the_revocation_ttl(
    http: httpx.AsyncClient, verifier: CredentialVerifier, clock: Clock
) -> None:
    key, kept = IDENTITY.api_key(TENANT, ["tickets:read"]), IDENTITY.api_key(TENANT, ["admin"])
    assert (await http.get("/may/tickets.read", headers=bearer(key))).status_code == 200
    assert (await http.get("/may/tickets.read", headers=bearer(kept))).status_code == 200
    IDENTITY.revoke(key)
    clock.advance(verifier.revocations_ttl)
    refused = await http.get("/may/tickets.read", headers=bearer(key))
    assert "revoked" in assert_problem(refused, 401)["detail"]
    assert (await http.get("/may/tickets.read", headers=bearer(kept))).status_code == 200


async def test_a_suspended_tenants_people_and_keys_are_refused_within_the_revocation_ttl(
    http: httpx.AsyncClient, verifier: CredentialVerifier, clock: Clock
) -> None:
    tenant = fresh_tenant()
    person, key = IDENTITY.person(tenant, "admin"), IDENTITY.api_key(tenant)
    other = IDENTITY.api_key(TENANT)
    for token in (person, key, other):
        assert (await http.get("/may/tickets.read", headers=bearer(token))).status_code == 200
    IDENTITY.suspend(tenant)
    clock.advance(verifier.revocations_ttl)
    for token in (person, key):
        response = await http.get("/may/tickets.read", headers=bearer(token))
        assert "suspended" in assert_problem(response, 401)["detail"]
    assert (await http.get("/may/tickets.read", headers=bearer(other))).status_code == 200


async def test_a_deactivated_users_tokens_are_refused_within_the_revocation_ttl(
    http: httpx.AsyncClient, verifier: CredentialVerifier, clock: Clock
) -> None:
    tenant = fresh_tenant()
    leaving, staying = (
        IDENTITY.person(tenant, "agent", "u-1"),
        IDENTITY.person(tenant, "agent", "u-2"),
    )
    assert (await http.get("/may/tickets.read", headers=bearer(leaving))).status_code == 200
    IDENTITY.deactivate(tenant, "u-1")
    clock.advance(verifier.revocations_ttl)
    refused = await http.get("/may/tickets.read", headers=bearer(leaving))
    assert "deactivated" in assert_problem(refused, 401)["detail"]
    assert (await http.get("/may/tickets.read", headers=bearer(staying))).status_code == 200


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("kind", ["person", "key"])
async def test_identity_out_of_reach_is_a_503_problem_never_a_500(kind: str, clock: Clock) -> None:
    dead = CredentialVerifier(f"http://127.0.0.1:{_closed_port()}", IDENTITY.issuer, clock=clock)
    token = IDENTITY.person(TENANT, "admin") if kind == "person" else IDENTITY.api_key(TENANT)
    async with client(app_for(dead)) as http:
        response = await http.get("/may/tickets.read", headers=bearer(token))
    assert_problem(response, 503)
    assert response.headers["retry-after"]


@pytest.mark.parametrize("kind", ["person", "key"])
async def test_what_was_verified_is_trusted_while_identity_is_away_then_503(
    kind: str, http: httpx.AsyncClient, verifier: CredentialVerifier, clock: Clock
) -> None:
    token = IDENTITY.person(TENANT, "admin") if kind == "person" else IDENTITY.api_key(TENANT)
    assert (await http.get("/may/tickets.read", headers=bearer(token))).status_code == 200
    verifier.identity_url = f"http://127.0.0.1:{_closed_port()}"
    clock.advance(max(verifier.revocations_ttl, verifier.key_ttl))
    assert (await http.get("/may/tickets.read", headers=bearer(token))).status_code == 200
    clock.advance(verifier.max_staleness)
    assert_problem(await http.get("/may/tickets.read", headers=bearer(token)), 503)


class _Misbehaving(BaseHTTPRequestHandler):
    """An identity that answers every request with ``answer`` (status, content type, body)."""

    answer: tuple[int, str, bytes] = (200, "text/html", b"<html>proxy error</html>")

    def _reply(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        status, content_type, body = self.answer
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _reply

    def log_message(self, format: str, *args: Any) -> None:
        return


MISBEHAVIOUR = {
    "500": (500, "application/json", b'{"title": "boom"}'),
    "HTML instead of JSON": (200, "text/html", b"<html>proxy error</html>"),
    "JSON of another shape": (200, "application/json", b'["not", "an", "object"]'),
    "members missing": (200, "application/json", b'{"keys": [{"kid": "k"}], "active": true}'),
}
"""What a broken identity (or a proxy in front of it) answers to every request."""


@pytest.fixture(params=list(MISBEHAVIOUR))
def misbehaving(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """The URL of an identity that answers nonsense, and which nonsense."""
    handler = type("Handler", (_Misbehaving,), {"answer": MISBEHAVIOUR[request.param]})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", request.param
    server.shutdown()
    server.server_close()


async def test_an_identity_answering_nonsense_is_a_503_problem_never_a_500(
    misbehaving: tuple[str, str], clock: Clock
) -> None:
    url, nonsense = misbehaving
    app = app_for(CredentialVerifier(url, IDENTITY.issuer, clock=clock))
    async with client(app) as http:
        key = await http.get("/may/tickets.read", headers=bearer(IDENTITY.api_key(TENANT)))
        person = await http.get(
            "/may/tickets.read", headers=bearer(IDENTITY.person(TENANT, "admin"))
        )
    assert_problem(key, 503)
    # A JWKS key the verifier cannot load is left out: the token's kid is then unknown.
    assert_problem(person, 401 if nonsense == "members missing" else 503)

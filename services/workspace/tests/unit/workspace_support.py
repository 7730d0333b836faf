"""The workspace in-process, with the other services replaced by an httpx transport.

``FakeServices`` answers identity's sign-in calls for the people it knows; a test adds the
routes it needs with ``fake.route("GET", "intake", "/v1/tickets", handler)`` where ``handler``
takes the ``httpx.Request`` and returns an ``httpx.Response`` (or a JSON-able value: 200).
Every call is recorded in ``fake.calls`` with the bearer token it carried.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi.testclient import TestClient

from helpline_workspace.app import create_app
from helpline_workspace.config import WorkspaceSettings

PORTS = {"intake": 8080, "routing": 8081, "escalation": 8082, "notify": 8083, "identity": 8084}
PASSWORD = "correct horse battery staple"
Handler = Callable[[httpx.Request], Any]


@dataclass
class Call:
    """One request a page made to a service."""

    method: str
    service: str
    path: str
    token: str
    request: httpx.Request


@dataclass
class FakeServices:
    """The five services as one httpx transport."""

    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    """By email: ``{user_id, name, email, role, teams, active}``."""
    routes: dict[tuple[str, str, str], Handler] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    issued: int = 0

    def person(
        self,
        email: str,
        role: str = "agent",
        name: str = "",
        teams: list[str] | None = None,
        user_id: str | None = None,
    ) -> dict[str, Any]:
        """Add someone who can sign in with :data:`PASSWORD`."""
        person = {
            "user_id": user_id or f"usr_{role}_{len(self.people)}",
            "name": name or email,
            "email": email,
            "role": role,
            "teams": teams or [],
            "active": True,
        }
        self.people[email] = person
        return person

    def route(self, method: str, service: str, path: str, handler: Handler) -> None:
        """Answer ``method path`` at ``service`` (a path may be a regular expression)."""
        self.routes[(method, service, path)] = handler

    def _tokens(self, email: str) -> dict[str, Any]:
        self.issued += 1
        return {
            "access_token": f"access-{self.issued}-{email}",
            "token_type": "Bearer",
            "expires_in": 600,
            "refresh_token": f"refresh-{self.issued}-{email}",
        }

    def _identity(self, request: httpx.Request, path: str) -> httpx.Response | None:
        body = request.read()
        if path == "/v1/login":
            import json

            sent = json.loads(body)
            person = self.people.get(sent["email"])
            if person is None or sent["password"] != PASSWORD:
                return httpx.Response(
                    401, json={"title": "Unauthorized", "detail": "wrong credentials"}
                )
            return httpx.Response(200, json=self._tokens(sent["email"]))
        if path == "/v1/refresh":
            import json

            token = json.loads(body)["refresh_token"]
            return httpx.Response(200, json=self._tokens(token.split("-", 2)[2]))
        if path == "/v1/logout":
            return httpx.Response(204)
        if path == "/v1/me":
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            email = token.split("-", 2)[2] if token.count("-") >= 2 else ""
            if email in self.people:
                return httpx.Response(200, json=self.people[email])
            return httpx.Response(401, json={"detail": "unknown token"})
        return None

    def handle(self, request: httpx.Request) -> httpx.Response:
        """The transport's one function."""
        service = next(name for name, port in PORTS.items() if request.url.port == port)
        path = request.url.path
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        self.calls.append(Call(request.method, service, path, token, request))
        if service == "identity" and (answer := self._identity(request, path)) is not None:
            return answer
        for (method, where, pattern), handler in self.routes.items():
            if method == request.method and where == service and re.fullmatch(pattern, path):
                result = handler(request)
                if isinstance(result, httpx.Response):
                    return result
                return httpx.Response(200, json=result)
        return httpx.Response(
            404, json={"title": "Not Found", "detail": f"no fake for {request.method} {path}"}
        )

    def transport(self) -> httpx.MockTransport:
        """The transport to give ``create_app``."""
        return httpx.MockTransport(self.handle)


NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
"""The time every page of these tests is rendered at."""


def workspace(fake: FakeServices, **settings: Any) -> TestClient:
    """The workspace app on ``fake`` (use as a context manager: it runs the lifespan); no Kafka
    consumer for live pages unless a test asks for one (``live_updates=True``)."""
    values: dict[str, Any] = {
        f"{name}_url": f"http://127.0.0.1:{port}" for name, port in PORTS.items()
    }
    values.update(workspace_tenant="acme", live_updates=False)
    values.update(settings)
    app = create_app(WorkspaceSettings(**values), transport=fake.transport(), clock=lambda: NOW)
    return TestClient(app, follow_redirects=False)


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(client: TestClient, path: str = "/signin") -> str:
    """The session's CSRF token, read from a page's form."""
    page = client.get(path)
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


def sign_in(
    client: TestClient, email: str, password: str = PASSWORD, timezone: str = "Europe/Berlin"
) -> httpx.Response:
    """Sign in through the form, as a browser would."""
    return client.post(
        "/signin",
        data={
            "tenant": "acme",
            "email": email,
            "password": password,
            "timezone": timezone,
            "next": "/work",
            "csrf_token": csrf_of(client),
        },
    )

"""The other services' public APIs, called as the signed-in person.

Pages never see a token: they call ``Apis.get/post/...(service, path)`` and get decoded JSON or an
:class:`ApiError` whose message a person can read. An access token about to expire is refreshed
first (one refresh at a time per session: identity rotates refresh tokens); a 401 after that
means the session is over (:class:`SignedOut`).
"""

import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from helpline_workspace.config import WorkspaceSettings
from helpline_workspace.sessions import Person, Session

SERVICES = ("intake", "routing", "escalation", "notify", "identity")
REFRESH_MARGIN = 30.0
"""Refresh an access token this many seconds before it expires."""


class SignedOut(Exception):
    """The session has no valid credential any more: sign in again."""


@dataclass
class ApiError(Exception):
    """A service refused or failed a call; ``message`` is fit to show a person."""

    service: str
    status: int
    message: str

    def __str__(self) -> str:
        return self.message


def _problem_text(response: httpx.Response) -> str:
    """The human part of a problem response (``detail`` or ``title``), or the reason phrase."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("title")
        if isinstance(detail, str):
            return detail
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            first = detail[0]
            where = ".".join(str(part) for part in first.get("loc", []) if part != "body")
            return f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg"))
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("detail") or errors[0].get("message") or body)
    return response.reason_phrase or f"HTTP {response.status_code}"


def error_message(service: str, response: httpx.Response) -> str:
    """A sentence for a person: what the service said, not a stack trace."""
    text = _problem_text(response)
    if response.status_code == 403:
        return f"You don't have permission to do that ({text})."
    if response.status_code == 404:
        return "Not found: it may have been deleted, or it belongs to someone else."
    if response.status_code >= 500:
        return f"The {service} service had a problem; please try again in a moment."
    return text


class Gateway:
    """One HTTP client for all services (connection reuse), shared by every session."""

    def __init__(
        self, settings: WorkspaceSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.urls = {
            "intake": settings.intake_url,
            "routing": settings.routing_url,
            "escalation": settings.escalation_url,
            "notify": settings.notify_url,
            "identity": settings.identity_url,
        }
        self.client = httpx.AsyncClient(
            timeout=settings.api_timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=200),
        )

    async def close(self) -> None:
        """Close the pooled connections."""
        await self.client.aclose()

    def url(self, service: str, path: str) -> str:
        """The absolute URL of ``path`` at ``service``."""
        return self.urls[service].rstrip("/") + path

    async def login(self, tenant: str, email: str, password: str) -> dict[str, Any]:
        """Identity's tokens for a password sign-in; ApiError (401 …) when refused."""
        response = await self.client.post(
            self.url("identity", "/v1/login"),
            json={"tenant": tenant, "email": email, "password": password},
        )
        if response.status_code != 200:
            message = (
                "Wrong tenant, email or password."
                if response.status_code in (401, 422)
                else error_message("identity", response)
            )
            raise ApiError("identity", response.status_code, message)
        tokens: dict[str, Any] = response.json()
        return tokens

    async def me(self, tenant: str, access_token: str) -> Person:
        """The person an access token belongs to."""
        response = await self.client.get(
            self.url("identity", "/v1/me"), headers={"authorization": f"Bearer {access_token}"}
        )
        if response.status_code != 200:
            raise ApiError("identity", response.status_code, error_message("identity", response))
        body = response.json()
        return Person(
            user_id=body["user_id"],
            tenant=tenant,
            name=body["name"],
            email=body["email"],
            role=body["role"],
            teams=list(body["teams"]),
        )

    async def logout(self, refresh_token: str) -> None:
        """Revoke a refresh token (best effort: the session is dropped anyway)."""
        with contextlib.suppress(httpx.HTTPError):
            await self.client.post(
                self.url("identity", "/v1/logout"), json={"refresh_token": refresh_token}
            )


def start_session(session: Session, person: Person, tokens: Mapping[str, Any]) -> None:
    """Put a sign-in's person and tokens on ``session``."""
    session.person = person
    session.access_token = str(tokens["access_token"])
    session.refresh_token = str(tokens["refresh_token"])
    session.access_expires = time.monotonic() + float(tokens["expires_in"])


class Apis:
    """The services as one signed-in person sees them."""

    def __init__(self, gateway: Gateway, session: Session) -> None:
        self.gateway = gateway
        self.session = session

    @property
    def person(self) -> Person:
        """Who is calling."""
        if self.session.person is None:
            raise SignedOut
        return self.session.person

    async def _access_token(self) -> str:
        session = self.session
        if session.person is None:
            raise SignedOut
        if session.access_expires - time.monotonic() > REFRESH_MARGIN:
            return session.access_token
        async with session.refresh_lock:
            if session.access_expires - time.monotonic() > REFRESH_MARGIN:
                return session.access_token
            response = await self.gateway.client.post(
                self.gateway.url("identity", "/v1/refresh"),
                json={"refresh_token": session.refresh_token},
            )
            if response.status_code != 200:
                session.person = None
                raise SignedOut
            start_session(session, session.person, response.json())
            return session.access_token

    async def request(
        self,
        method: str,
        service: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Call ``service`` as the person; the response when 2xx, else ApiError or SignedOut."""
        token = await self._access_token()
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        response = await self.gateway.client.request(
            method,
            self.gateway.url(service, path),
            params=clean,
            json=json,
            files=files,
            data=data,
            headers={"authorization": f"Bearer {token}", **(headers or {})},
        )
        if response.status_code == 401:
            self.session.person = None
            raise SignedOut
        if response.status_code >= 400:
            raise ApiError(service, response.status_code, error_message(service, response))
        return response

    async def get(self, service: str, path: str, **params: Any) -> Any:
        """GET ``path`` at ``service`` with query ``params``; the decoded body."""
        return (await self.request("GET", service, path, params=params)).json()

    async def post(self, service: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """POST JSON ``body``; the decoded body (None when empty)."""
        response = await self.request("POST", service, path, json=body, **kwargs)
        return response.json() if response.content else None

    async def put(self, service: str, path: str, body: Any = None) -> Any:
        """PUT JSON ``body``; the decoded body (None when empty)."""
        response = await self.request("PUT", service, path, json=body)
        return response.json() if response.content else None

    async def patch(self, service: str, path: str, body: Any) -> Any:
        """PATCH JSON ``body``; the decoded body."""
        return (await self.request("PATCH", service, path, json=body)).json()

    async def delete(self, service: str, path: str) -> None:
        """DELETE ``path``."""
        await self.request("DELETE", service, path)

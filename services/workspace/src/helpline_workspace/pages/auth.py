"""Signing in and out (a password, or an OIDC provider through identity), and the front door.

An OIDC sign-in: ``/signin/oidc/{provider}`` asks identity (server to server) to start one that
returns to ``/signin/oidc/callback`` with a random client state kept in this browser's session,
and sends the browser to the provider. Identity sends it back with a one-time code and that
state; the callback accepts only the state of its own session (a code fetched by someone else
cannot be planted in this session), trades the code at identity and starts a fresh session.
"""

import logging
import secrets
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from helpline_workspace.apis import ApiError, Gateway, error_message, start_session
from helpline_workspace.sessions import Person, Session
from helpline_workspace.web import (
    gateway_of,
    remember_session,
    render,
    session_of,
    settings_of,
    store_of,
    zone,
)

router = APIRouter()
HOME = "/work"
log = logging.getLogger("helpline.workspace")


def _safe_next(target: str | None) -> str:
    """Only a path of this site (no open redirect)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return HOME


@router.get("/")
async def front_door(request: Request) -> Response:
    """My work when signed in, else the sign-in page."""
    signed_in = session_of(request).person is not None
    return RedirectResponse(HOME if signed_in else "/signin", status_code=303)


async def _providers(gateway: Gateway) -> list[dict[str, str]]:
    """The OIDC providers identity offers; none when identity cannot say (password still works)."""
    try:
        response = await gateway.client.get(gateway.url("identity", "/v1/oidc/providers"))
        listed = response.json() if response.status_code == 200 else []
    except (httpx.HTTPError, ValueError):
        return []
    return [
        {"name": str(p["name"]), "display_name": str(p["display_name"])}
        for p in listed
        if isinstance(p, dict) and "name" in p and "display_name" in p
    ]


async def _sign_in_form(
    request: Request,
    *,
    status_code: int = 200,
    next: str | None = None,
    tenant: str | None = None,
    email: str = "",
    error: str | None = None,
) -> Response:
    """The sign-in page: the password form and a button per OIDC provider."""
    return render(
        request,
        "signin.html",
        status_code=status_code,
        next=_safe_next(next),
        tenant=settings_of(request).workspace_tenant if tenant is None else tenant,
        email=email,
        error=error,
        providers=await _providers(gateway_of(request)),
    )


@router.get("/signin")
async def sign_in_page(request: Request, next: str | None = None) -> Response:
    """The sign-in form."""
    return await _sign_in_form(request, next=next)


@router.post("/signin")
async def sign_in(
    request: Request,
    tenant: Annotated[str, Form(max_length=64)],
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    timezone: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=2000)] = HOME,
) -> Response:
    """Check the password at identity; on success a fresh session id (no fixation)."""
    gateway = gateway_of(request)
    tenant, email = tenant.strip(), email.strip()
    try:
        tokens = await gateway.login(tenant, email, password)
        person = await gateway.me(tenant, str(tokens["access_token"]))
    except ApiError as error:
        return await _sign_in_form(
            request,
            status_code=401 if error.status == 401 else 400,
            next=next,
            tenant=tenant,
            email=email,
            error=error.message,
        )
    return _signed_in(request, person, tokens, timezone, next)


def _signed_in(
    request: Request, person: Person, tokens: dict[str, Any], timezone: str, next: str | None
) -> Response:
    """Start the person's session under a fresh id (no fixation) and go on to ``next``."""
    session = store_of(request).rotate(session_of(request))
    start_session(session, person, tokens)
    if timezone and zone(timezone).key == timezone:
        session.timezone = timezone
    response = RedirectResponse(_safe_next(next), status_code=303)
    remember_session(request, response)
    return response


OIDC_PENDING = "oidc_sign_in"
"""Key in ``Session.data`` of the OIDC sign-ins in flight: by client state, provider and next."""
MAX_IN_FLIGHT = 5
"""OIDC sign-ins one session may have begun at once (one per browser tab, say)."""
FAILED = "The sign-in with {} could not be completed. Please try again."


def _begin(session: Session, state: str, values: dict[str, str]) -> None:
    """Remember an OIDC sign-in in flight in ``session`` (the oldest go beyond the limit)."""
    in_flight: dict[str, dict[str, str]] = session.data.setdefault(OIDC_PENDING, {})
    in_flight[state] = values
    while len(in_flight) > MAX_IN_FLIGHT:
        del in_flight[next(iter(in_flight))]  # dicts keep insertion order


def _callback_url(request: Request) -> str:
    """Where identity sends the browser back (must be on identity's HELPLINE_OIDC_RETURN_URLS)."""
    return str(request.url_for("oidc_callback"))


@router.get("/signin/oidc/callback", name="oidc_callback")
async def oidc_callback(
    request: Request,
    code: Annotated[str | None, Query(max_length=200)] = None,
    state: Annotated[str | None, Query(max_length=128)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Finish an OIDC sign-in begun in this session: trade the one-time code at identity."""
    in_flight: dict[str, dict[str, str]] = session_of(request).data.get(OIDC_PENDING, {})
    pending = in_flight.pop(state, None) if state else None
    if pending is None:
        return await _sign_in_form(
            request,
            status_code=400,
            error="This sign-in was not started in this browser "
            "or has already been used. Please start again.",
        )
    name, next = pending["display_name"], pending["next"]
    if error or not code:
        return await _sign_in_form(
            request,
            status_code=401,
            next=next,
            error=f"{name} did not sign you in. Please try again.",
        )
    gateway = gateway_of(request)
    try:
        response = await gateway.client.post(
            gateway.url("identity", "/v1/oidc/exchange"), json={"code": code, "state": state}
        )
        if response.status_code != 200:
            raise ApiError(
                "identity",
                response.status_code,
                FAILED.format(name)
                if response.status_code in (401, 422)
                else error_message("identity", response),
            )
        tokens: dict[str, Any] = response.json()
        person = await gateway.me(str(tokens["tenant"]), str(tokens["access_token"]))
    except ApiError as failure:
        return await _sign_in_form(
            request,
            status_code=401 if failure.status == 401 else 400,
            next=next,
            error=failure.message,
        )
    return _signed_in(request, person, tokens, pending["timezone"], next)


@router.get("/signin/oidc/{provider}")
async def oidc_sign_in(
    request: Request,
    provider: Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")],
    next: Annotated[str | None, Query(max_length=2000)] = None,
    timezone: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """Start signing in at ``provider`` through identity."""
    offered = {p["name"]: p["display_name"] for p in await _providers(gateway_of(request))}
    if provider not in offered:
        return await _sign_in_form(
            request, status_code=404, next=next, error="That sign-in provider is not offered here."
        )
    state = secrets.token_urlsafe(32)
    gateway = gateway_of(request)
    try:
        started = await gateway.client.get(
            gateway.url("identity", f"/v1/oidc/{provider}/login"),
            params={"return_to": _callback_url(request), "client_state": state},
        )
    except httpx.HTTPError as error:
        log.warning("identity could not start an OIDC sign-in: %s", error)
        started = None
    if started is None or started.status_code != 302 or "location" not in started.headers:
        if started is not None:
            # Most likely this callback URL is missing from identity's HELPLINE_OIDC_RETURN_URLS.
            log.warning(
                "identity refused to start an OIDC sign-in returning to %s: %s",
                _callback_url(request),
                error_message("identity", started),
            )
        return await _sign_in_form(
            request, status_code=502, next=next, error=FAILED.format(offered[provider])
        )
    _begin(
        session_of(request),
        state,
        {"display_name": offered[provider], "next": _safe_next(next), "timezone": timezone},
    )
    response = RedirectResponse(started.headers["location"], status_code=303)
    remember_session(request, response)
    return response


@router.post("/signout")
async def sign_out(request: Request) -> Response:
    """Revoke the refresh token at identity and forget the session."""
    session = session_of(request)
    if session.refresh_token:
        await gateway_of(request).logout(session.refresh_token)
    store_of(request).drop(session)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie("helpline_session", path="/")
    return response

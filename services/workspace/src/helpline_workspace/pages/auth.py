"""Signing in and out, and the front door."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from helpline_workspace.apis import ApiError, start_session
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


@router.get("/signin")
async def sign_in_page(request: Request, next: str | None = None) -> Response:
    """The sign-in form."""
    return render(request, "signin.html", next=_safe_next(next),
                  tenant=settings_of(request).workspace_tenant, email="", error=None)


@router.post("/signin")
async def sign_in(request: Request, tenant: Annotated[str, Form(max_length=64)],
                  email: Annotated[str, Form(max_length=320)],
                  password: Annotated[str, Form(max_length=1024)],
                  timezone: Annotated[str, Form(max_length=64)] = "",
                  next: Annotated[str, Form(max_length=2000)] = HOME) -> Response:
    """Check the password at identity; on success a fresh session id (no fixation)."""
    gateway = gateway_of(request)
    tenant, email = tenant.strip(), email.strip()
    try:
        tokens = await gateway.login(tenant, email, password)
        person = await gateway.me(tenant, str(tokens["access_token"]))
    except ApiError as error:
        return render(request, "signin.html", status_code=401 if error.status == 401 else 400,
                      next=_safe_next(next), tenant=tenant, email=email, error=error.message)
    session = store_of(request).rotate(session_of(request))
    start_session(session, person, tokens)
    if timezone and zone(timezone).key == timezone:
        session.timezone = timezone
    response = RedirectResponse(_safe_next(next), status_code=303)
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

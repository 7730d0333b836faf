"""What every page shares: the session of the request, sign-in checks, CSRF and rendering.

Page modules (``pages/*.py``) use three dependencies and one function:

- ``SignedIn`` (any person), ``Lead`` (lead or admin), ``Admin``: the request's :class:`Apis`,
  or a redirect to the sign-in page;
- ``render(request, "template.html", **context)``: an HTML response from ``templates/``, with the
  person, CSRF token, flash messages and their time zone in the context.

CSRF is checked for every POST, PUT, PATCH and DELETE by the app-wide dependency
:func:`verify_csrf`; pages need do nothing but put ``{{ csrf_field() }}`` in their forms (htmx
requests carry the header set on ``<body>``).
"""

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from helpline_workspace.apis import Apis, Gateway
from helpline_workspace.config import WorkspaceSettings
from helpline_workspace.sessions import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    Session,
    SessionStore,
)

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class NeedsSignIn(Exception):
    """The page needs a signed-in person (answered with a redirect to the sign-in page)."""


class Forbidden(Exception):
    """The person's role may not open this page (answered with a readable 403 page)."""


def settings_of(request: Request) -> WorkspaceSettings:
    """The app's settings."""
    settings: WorkspaceSettings = request.app.state.settings
    return settings


def now_of(request: Request) -> datetime:
    """The time this request is rendered at (the app's clock: injected in tests)."""
    now: datetime = request.app.state.clock()
    return now


def store_of(request: Request) -> SessionStore:
    """The app's session store."""
    store: SessionStore = request.app.state.sessions
    return store


def gateway_of(request: Request) -> Gateway:
    """The app's gateway to the other services."""
    gateway: Gateway = request.app.state.gateway
    return gateway


def session_of(request: Request) -> Session:
    """The request's session, made (anonymous) when the browser has none yet.

    A new session's cookie is set by :func:`remember_session` on the way out.
    """
    cached: Session | None = getattr(request.state, "session", None)
    if cached is not None:
        return cached
    store = store_of(request)
    session = store.get(request.cookies.get(SESSION_COOKIE))
    if session is None:
        session = store.new(settings_of(request).default_timezone)
    request.state.session = session
    return session


def remember_session(request: Request, response: Response) -> None:
    """Set the session cookie when the request's session is not the one the browser sent."""
    session: Session | None = getattr(request.state, "session", None)
    if session is None or request.cookies.get(SESSION_COOKIE) == session.id:
        return
    response.set_cookie(
        SESSION_COOKIE,
        session.id,
        httponly=True,
        samesite="lax",
        secure=settings_of(request).session_cookie_secure,
        path="/",
    )


async def verify_csrf(request: Request) -> None:
    """Refuse an unsafe request without the session's CSRF token (403)."""
    if request.method in SAFE_METHODS:
        return
    token = request.headers.get(CSRF_HEADER)
    if token is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    if not store_of(request).csrf_valid(session_of(request), token):
        raise HTTPException(
            403,
            "This form has expired or did not come from this site. Reload the page and try again.",
        )


def _signed_in(request: Request) -> Apis:
    session = session_of(request)
    if session.person is None:
        raise NeedsSignIn
    return Apis(gateway_of(request), session)


def _lead(apis: Annotated[Apis, Depends(_signed_in)]) -> Apis:
    if not apis.person.is_lead:
        raise Forbidden("Only team leads and admins can open this page.")
    return apis


def _admin(apis: Annotated[Apis, Depends(_signed_in)]) -> Apis:
    if not apis.person.is_admin:
        raise Forbidden("Only admins can open this page.")
    return apis


SignedIn = Annotated[Apis, Depends(_signed_in)]
Lead = Annotated[Apis, Depends(_lead)]
Admin = Annotated[Apis, Depends(_admin)]


def zone(name: str) -> ZoneInfo:
    """The time zone ``name``, UTC when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def parse_instant(value: Any) -> datetime | None:
    """An ISO 8601 instant (as the APIs send them), or None."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def local_time(value: Any, timezone: str, fmt: str = "%Y-%m-%d %H:%M") -> Markup:
    """``<time>`` showing ``value`` in the person's time zone, machine-readable in UTC."""
    instant = parse_instant(value)
    if instant is None:
        return Markup("")
    local = instant.astimezone(zone(timezone))
    return Markup('<time datetime="{}">{}</time>').format(
        instant.isoformat(), f"{local.strftime(fmt)} {local.tzname()}"
    )


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered for the request's session."""
    session = session_of(request)
    flash: list[str] = []
    # A fragment htmx fetches in the background (live parts, a list refreshed) has no place for
    # flash messages: they wait for the next whole page, which a redirect is about to load.
    if request.headers.get("hx-request") != "true":
        flash, session.flash = session.flash, []

    def csrf_field() -> Markup:
        return Markup('<input type="hidden" name="{}" value="{}">').format(
            CSRF_FIELD, escape(session.csrf)
        )

    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "person": session.person,
            "csrf_token": session.csrf,
            "csrf_field": csrf_field,
            "flash": flash,
            "timezone": session.timezone,
            "when": lambda value, fmt="%Y-%m-%d %H:%M": local_time(value, session.timezone, fmt),
            **context,
        },
        status_code=status_code,
    )
    remember_session(request, response)
    return response

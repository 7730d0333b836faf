"""The workspace application: pages, sessions, CSRF, readable errors and security headers."""

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from helpline_shared.runtime.http_metrics import HttpServerMetrics
from helpline_workspace import live
from helpline_workspace.apis import ApiError, Gateway, SignedOut
from helpline_workspace.config import WorkspaceSettings
from helpline_workspace.pages import admin, agent, auth, lead
from helpline_workspace.sessions import SessionStore
from helpline_workspace.web import Forbidden, NeedsSignIn, render, session_of, verify_csrf

log = logging.getLogger("helpline.workspace")
OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _to_sign_in(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = "/signin" + (f"?next={quote(target)}" if target not in ("/", "/signin") else "")
    if _is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def _error(request: Request, status: int, message: str) -> Response:
    """A readable error: a page, or for htmx a message swapped into the page's alert region."""
    if _is_htmx(request):
        response = render(request, "_alert.html", status_code=200, message=message, level="error")
        response.headers["HX-Retarget"] = "#messages"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return render(request, "error.html", status_code=status, message=message, status=status)


def install_error_pages(app: FastAPI) -> None:
    """Every failure becomes a page a person can read; none shows a stack trace."""

    @app.exception_handler(NeedsSignIn)
    async def needs_sign_in(request: Request, _error_: NeedsSignIn) -> Response:
        return _to_sign_in(request)

    @app.exception_handler(SignedOut)
    async def signed_out(request: Request, _error_: SignedOut) -> Response:
        session_of(request).flash.append("Your session has ended. Please sign in again.")
        return _to_sign_in(request)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, error: Forbidden) -> Response:
        return _error(request, 403, str(error))

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> Response:
        status = error.status if error.status in (400, 403, 404, 409, 422) else 502
        return _error(request, status, error.message)

    @app.exception_handler(httpx.HTTPError)
    async def unreachable(request: Request, error: httpx.HTTPError) -> Response:
        log.warning("a service is unreachable: %s", error)
        return _error(
            request,
            503,
            "A Helpline service is unreachable right now; please try again in a moment.",
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        message = (
            error.detail
            if isinstance(error.detail, str) and error.status_code != 404
            else "There is no such page."
        )
        return _error(request, error.status_code, message)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(
            request, 500, "Something went wrong on our side; it has been logged. Please try again."
        )


def create_app(
    settings: WorkspaceSettings,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The workspace; ``transport`` replaces the network to the other services and ``clock``
    the time pages are rendered at (tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await live.start(app)
        try:
            yield
        finally:
            await live.stop(app)
            await app.state.gateway.close()

    app = FastAPI(
        title="Helpline workspace",
        version="0.1.0",
        lifespan=lifespan,
        dependencies=[Depends(verify_csrf)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.clock = clock or (lambda: datetime.now(UTC))
    app.state.sessions = SessionStore(settings.session_idle_seconds)
    app.state.gateway = Gateway(settings, transport)
    install_error_pages(app)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    for module in (auth, agent, lead, admin, live):
        app.include_router(module.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.add_middleware(HttpServerMetrics, excluded_paths=OPS_PATHS)
    return app

"""HTTP server metrics in Prometheus form, named and labelled after the OpenTelemetry semantic
conventions (``http.server.request.duration`` with ``http.route``, ``http.request.method`` and
``http.response.status_code``; dots become underscores as in any OTel-to-Prometheus export).

The route is the template the request matched (``/v1/tickets/{ticket_id}``), never the raw path,
so no id ever becomes a label value; a request that matched no route has an empty route.
"""

import time
from collections.abc import Collection
from typing import Any

from prometheus_client import Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_SERVER_DURATION = Histogram(
    "http_server_request_duration_seconds",
    "Duration of HTTP server requests, by route template, method and status",
    ["http_route", "http_request_method", "http_response_status_code"],
    # The semantic conventions' advice for http.server.request.duration.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0),
)
HTTP_SERVER_ACTIVE = Gauge(
    "http_server_active_requests", "HTTP server requests in progress", ["http_request_method"]
)
KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)


_DURATIONS: dict[tuple[str, str, str], Any] = {}
_ACTIVE: dict[str, Any] = {}


def observe_duration(route: str, method: str, status: int, seconds: float) -> None:
    """Observe one request in ``http_server_request_duration_seconds``.

    The children of the metric are kept by label values: ``labels`` takes a lock and builds a
    key on every call, which showed in the profile of every request. Routes are templates and
    methods and statuses few, so the children stay few.
    """
    key = (route, method, str(status))
    child = _DURATIONS.get(key)
    if child is None:
        child = _DURATIONS[key] = HTTP_SERVER_DURATION.labels(*key)
    child.observe(seconds)


def active_requests(method: str) -> Any:
    """The ``http_server_active_requests`` gauge of ``method`` (kept, as above)."""
    child = _ACTIVE.get(method)
    if child is None:
        child = _ACTIVE[method] = HTTP_SERVER_ACTIVE.labels(method)
    return child


def method_label(method: str) -> str:
    """The request method, or ``_OTHER`` for one HTTP does not define (no free-form labels)."""
    return method if method in KNOWN_METHODS else "_OTHER"


def route_label(scope: Scope) -> str:
    """The route template the router matched for this request ("" when none did)."""
    route = scope.get("route")
    path = getattr(route, "path", "")
    return path if isinstance(path, str) else ""


class HttpServerMetrics:
    """ASGI middleware observing each HTTP request's duration, route, method and status."""

    def __init__(self, app: ASGIApp, excluded_paths: Collection[str] = ()) -> None:
        self.app = app
        self.excluded_paths = frozenset(excluded_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, observing it unless it is not HTTP or its path is excluded."""
        if scope["type"] != "http" or scope.get("path") in self.excluded_paths:
            await self.app(scope, receive, send)
            return
        method = method_label(str(scope.get("method", "")))
        status = 500  # what the server answers when the app fails before it responds

        async def observing_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        active = active_requests(method)
        active.inc()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, observing_send)
        finally:
            active.dec()
            # The router writes the matched route into this same scope as it dispatches.
            observe_duration(route_label(scope), method, status, time.perf_counter() - started)

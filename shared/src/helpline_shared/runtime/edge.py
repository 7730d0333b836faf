"""The HTTP edge every service shares, as pure ASGI middleware around the FastAPI app.

``Edge`` is the one layer per request for its id, its server span, its metrics, its audit
record and the problem+json 500 (one layer instead of four: each wrapped ``send`` and a
coroutine frame cost CPU on every request). ``BodyLimit`` refuses a body larger
than its route allows with a 413, from the declared ``Content-Length`` before anything is read,
or while a chunked body streams, before authentication and before any of it is buffered; and a
JSON body holding NUL with a 422.
"""

import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    StatusCode,
    TraceFlags,
    Tracer,
)
from starlette.routing import compile_path

from helpline_shared.runtime.http_metrics import (
    active_requests,
    method_label,
    observe_duration,
    route_label,
)
from helpline_shared.runtime.problems import PROBLEM_JSON

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID_HEADER = "x-request-id"
BODY_LIMIT_EXTENSION = "x-max-body-bytes"
"""The OpenAPI extension by which an operation states its body limit in bytes."""
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _problem_body(status: int, title: str, detail: str, **extra: Any) -> bytes:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return json.dumps(body).encode()


async def send_problem(
    send: Send,
    status: int,
    title: str,
    detail: str,
    headers: Iterable[tuple[bytes, bytes]] = (),
    **extra: Any,
) -> None:
    """Answer with a problem+json response straight on the ASGI ``send``."""
    body = _problem_body(status, title, detail, **extra)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def request_id_of(scope: Scope) -> str | None:
    """The id ``Edge`` gave the request of ``scope``."""
    value = scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


Answered = Callable[[Scope, int], Awaitable[None]]
"""Told each response's status before it starts (the audit trail)."""


class Edge:
    """The one middleware layer around a service's app, doing per request what four layers did.

    A request id (an incoming valid ``X-Request-Id`` is kept) on the request and its response;
    a URL holding NUL refused; one server span per request, child of an incoming
    ``traceparent``, current while the app runs (the events it publishes join its trace) and
    named ``METHOD /route/{template}`` (with no ``tracer``, when nothing exports spans, no span
    but the trace all the same: the caller's, or a new one); the request counted in
    ``http_server_*`` metrics;
    ``answered`` awaited before the response starts (the audit record is committed first);
    and anything unexpected turned into a problem+json 500 naming the request id, its
    traceback logged and never sent. Paths in ``unobserved`` (the probes) get only the id and
    the 500.
    """

    def __init__(
        self,
        app: Asgi,
        *,
        tracer: Tracer | None,
        answered: Answered | None = None,
        unobserved: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.tracer = tracer
        self.answered = answered
        self.unobserved = unobserved

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        header = (_REQUEST_ID_HEADER_BYTES, request_id.encode())
        observed = scope["path"] not in self.unobserved
        answered = self.answered if observed else None
        status = 500  # what is answered when the app fails before it responds
        started = False

        async def send_answer(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), header]
                if answered is not None:
                    await answered(scope, status)
            await send(message)

        if not observed:
            await self._answer(scope, receive, send_answer, request_id, lambda: started)
            return
        method = method_label(str(scope.get("method", "")))
        parent = _parent(scope)
        if self.tracer is None:
            # No exporter would receive a span: none is made (its attributes, ids and end cost
            # more than the rest of this layer). The request still has a trace, the caller's or
            # a new one, current while the app runs: its events and logs carry it on.
            span = None
            token = context.attach(
                parent if parent is not None else trace.set_span_in_context(_new_trace())
            )
        else:
            span = self.tracer.start_span(
                method,
                context=parent,
                kind=SpanKind.SERVER,
                attributes={
                    "http.request.method": method,
                    "url.path": scope["path"],
                    "url.scheme": scope.get("scheme", "http"),
                },
            )
            token = context.attach(trace.set_span_in_context(span))
        active = active_requests(method)
        active.inc()
        began = time.perf_counter()
        try:
            await self._answer(scope, receive, send_answer, request_id, lambda: started)
        finally:
            active.dec()
            route = route_label(scope)
            observe_duration(route, method, status, time.perf_counter() - began)
            if span is not None:
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(StatusCode.ERROR)
                span.end()
            context.detach(token)

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: str,
        started: Callable[[], bool],
    ) -> None:
        if "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b""):
            # PostgreSQL text cannot hold NUL: refused here rather than as a database error.
            await send_problem(
                send, 400, "Bad request", "the URL contains a NUL character", field="url"
            )
            return
        try:
            await self.app(scope, receive, send)
        except Exception:
            log.exception(
                "unexpected error while answering a request",
                extra={
                    "request_id": request_id,
                    "path": scope.get("path"),
                    "method": scope.get("method"),
                },
            )
            if started():
                return  # the client sees a cut response; nothing more can be said
            await send_problem(
                send,
                500,
                "Internal server error",
                "the request failed unexpectedly; quote the request id when reporting it",
                request_id=request_id,
            )


_REQUEST_ID_HEADER_BYTES = REQUEST_ID_HEADER.encode()
_TRACE_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == _REQUEST_ID_HEADER_BYTES:
            text = bytes(value).decode("latin-1")
            return text if _VALID_REQUEST_ID.match(text) else uuid.uuid4().hex
    return uuid.uuid4().hex


_IDS = RandomIdGenerator()


def _new_trace() -> NonRecordingSpan:
    """A span that records nothing, starting a new trace (what its events and logs carry)."""
    return NonRecordingSpan(
        SpanContext(
            trace_id=_IDS.generate_trace_id(),
            span_id=_IDS.generate_span_id(),
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
    )


def _parent(scope: Scope) -> Context | None:
    """The trace context an incoming request carries, if any."""
    carrier = {
        name.decode("latin-1"): bytes(value).decode("latin-1")
        for name, value in scope.get("headers", [])
        if name in _TRACE_HEADERS
    }
    return propagate.extract(carrier) if carrier else None


class BodyLimits:
    """Body limits in bytes: per route (method and path template, as routes are declared)."""

    def __init__(self, default: int, routes: Mapping[tuple[str, str], int] | None = None) -> None:
        self.default = default
        self._routes = [
            (method, compile_path(path)[0], limit)
            for (method, path), limit in (routes or {}).items()
        ]

    def limit_for(self, method: str, path: str) -> int:
        """The limit of a ``method`` request to ``path`` (a concrete path or its template)."""
        for route_method, pattern, limit in self._routes:
            if method == route_method and pattern.match(path):
                return limit
        return self.default

    def declare(self, openapi: dict[str, Any]) -> dict[str, Any]:
        """``openapi`` with each operation that takes a body stating its limit."""
        for path, operations in openapi.get("paths", {}).items():
            for method, operation in operations.items():
                if isinstance(operation, dict) and "requestBody" in operation:
                    operation[BODY_LIMIT_EXTENSION] = self.limit_for(method.upper(), path)
        return openapi


class NulEscapes:
    """Finds a JSON ``\\u0000`` escape in a body fed chunk by chunk (not an escaped backslash
    followed by ``u0000``), remembering only what a match across chunks needs."""

    def __init__(self) -> None:
        self._tail = b""

    def found_in(self, chunk: bytes) -> bool:
        """True when the body up to and including ``chunk`` holds a NUL escape."""
        data = self._tail + chunk
        found = False
        at = data.find(rb"\u0000")
        while at != -1 and not found:
            first = at
            while first > 0 and data[first - 1] == 0x5C:  # backslashes before it
                first -= 1
            found = (at - first) % 2 == 0  # an even run escapes itself, not the "u"
            at = data.find(rb"\u0000", at + 1)
        # Keep what a match starting here would need: 5 bytes and any backslash run before.
        keep = max(len(data) - 5, 0)
        while keep > 0 and data[keep - 1] == 0x5C:
            keep -= 1
        self._tail = data[keep:]
        return found


async def _nul_field(seen: list[bytes], last: Message, receive: Receive, room: int) -> str:
    """The dotted path of the first JSON string holding NUL, reading the rest of the body (no
    more than ``room`` bytes, the route's limit still applies); ``body`` when it cannot tell."""
    more = bool(last.get("more_body"))
    while more and room >= 0:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        room -= len(chunk)
        seen.append(chunk)
        more = bool(message.get("more_body"))
    if more or room < 0:
        return "body"
    try:
        document = json.loads(b"".join(seen))
    except ValueError:
        return "body"
    path = _path_to_nul(document)
    return ".".join(path) if path else "body"


def _path_to_nul(value: object) -> list[str] | None:
    if isinstance(value, str):
        return [] if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return [key.replace("\x00", "")]
            found = _path_to_nul(item)
            if found is not None:
                return [key, *found]
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _path_to_nul(item)
            if found is not None:
                return [str(index), *found]
    return None


class BodyLimit:
    """Refuse a request body above its route's limit with a 413, reading no further; refuse a
    JSON body holding NUL (``\\u0000``, which PostgreSQL text cannot store) with a 422."""

    def __init__(self, app: Asgi, *, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.limit_for(scope["method"], scope["path"])
        declared = self._content_length(scope)
        if declared == -1:
            await send_problem(
                send,
                400,
                "Bad request",
                "Content-Length is not a byte count",
                headers=[(b"connection", b"close")],
                field="Content-Length",
            )
            return
        if declared is not None and declared > limit:
            await self._too_large(send, limit)
            return
        received = 0
        started = refused = False
        nul_escapes = NulEscapes() if self._is_json(scope) else None
        seen: list[bytes] = []  # a JSON body as read so far: names the field that holds NUL

        async def bounded_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                received += len(body)
                if received > limit:
                    refused = True
                    if not started:
                        await self._too_large(send, limit)
                elif nul_escapes is not None:
                    seen.append(body)
                    if nul_escapes.found_in(body):
                        refused = True
                        if not started:
                            field = await _nul_field(seen, message, receive, limit - received)
                            await send_problem(
                                send,
                                422,
                                "Invalid request",
                                f"{field} contains a NUL character (\\u0000)",
                                headers=[(b"connection", b"close")],
                                field=field,
                                errors=[{"field": field, "message": "contains a NUL character"}],
                            )
                if refused:
                    # The app sees the client gone; whatever it answers is dropped below.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except Exception:
            if not refused:
                raise
            # The app failed on the disconnect it was handed after the refusal: expected.

    @staticmethod
    def _content_length(scope: Scope) -> int | None:
        """The declared length; None when absent, -1 when unreadable."""
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                return int(value) if value.isdigit() and len(value) < 20 else -1
        return None

    @staticmethod
    def _is_json(scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"content-type":
                return b"json" in value.lower()
        return True  # FastAPI reads a body without a content type as JSON

    @staticmethod
    async def _too_large(send: Send, limit: int) -> None:
        await send_problem(
            send,
            413,
            "Payload too large",
            f"the request body is larger than {limit} bytes",
            headers=[(b"connection", b"close")],
            max_body_bytes=limit,
        )

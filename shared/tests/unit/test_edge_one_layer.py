"""The HTTP edge is one layer: one server span per request, in the trace the caller names,
current while the app runs; the request id, the audit record and the metrics kept."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import MetaData

from helpline_shared.runtime import service
from helpline_shared.runtime.auth import Principal, require
from helpline_shared.runtime.edge import BodyLimit, Edge
from helpline_shared.runtime.service import ServiceRuntime
from helpline_shared.runtime.settings import ServiceSettings
from helpline_shared.runtime.testing import outbox_events, stand_in_identity

IDENTITY = stand_in_identity()
PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"


def things(seen: list[trace.Span]) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/things/{thing_id}", status_code=201)
    async def change(
        thing_id: str, _principal: Principal = require("tickets.update")
    ) -> dict[str, str]:
        """Change a thing, noting the span current while the app runs."""
        seen.append(trace.get_current_span())
        return {"id": thing_id}

    return router


class Served:
    def __init__(
        self,
        runtime: ServiceRuntime,
        app: FastAPI,
        metadata: MetaData,
        spans: InMemorySpanExporter,
        seen: list[trace.Span],
    ) -> None:
        self.runtime, self.app, self.metadata, self.spans, self.seen = (
            runtime,
            app,
            metadata,
            spans,
            seen,
        )


@pytest.fixture
async def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(service, "setup_tracing", lambda *_args, **_kwargs: provider)
    metadata = MetaData()
    runtime = ServiceRuntime(
        name="edge-test",
        metadata=metadata,
        settings=ServiceSettings(data_dir=tmp_path, **IDENTITY.settings()),
    )
    async with runtime.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    seen: list[trace.Span] = []
    yield Served(runtime, runtime.http_app("edge test", [things(seen)]), metadata, exporter, seen)
    await runtime.engine.dispose()


def client(app: FastAPI) -> httpx.AsyncClient:
    token = IDENTITY.person("acme", "agent", user_id="u-ann")
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://svc",
        headers={"authorization": f"Bearer {token}"},
    )


async def test_a_request_makes_one_server_span_child_of_the_callers_trace(served: Served) -> None:
    async with client(served.app) as http:
        answer = await http.post(
            "/v1/things/T-1",
            headers={"traceparent": f"00-{PARENT_TRACE}-{PARENT_SPAN}-01", "x-request-id": "r-1"},
        )
    assert answer.status_code == 201, answer.text
    assert answer.headers["x-request-id"] == "r-1"
    # No span per ASGI send or receive, no second server span: one span per request.
    spans = served.spans.get_finished_spans()
    [span] = [s for s in spans if s.kind is not SpanKind.CLIENT]  # but the audit's SQL
    assert span.kind is SpanKind.SERVER
    assert span.name == "POST /v1/things/{thing_id}"
    assert dict(span.attributes or {}) == {
        "http.request.method": "POST",
        "http.route": "/v1/things/{thing_id}",
        "http.response.status_code": 201,
        "url.path": "/v1/things/T-1",
        "url.scheme": "http",
    }
    assert span.context is not None and span.parent is not None
    assert format(span.context.trace_id, "032x") == PARENT_TRACE
    assert format(span.parent.span_id, "016x") == PARENT_SPAN
    # The app (and what it publishes) runs in that span.
    [current] = served.seen
    assert current.get_span_context().span_id == span.context.span_id
    # The audit record of the write is in the request's trace.
    [audit] = await outbox_events(served.runtime.engine, served.metadata)
    assert audit.extensions["traceparent"].split("-")[1] == PARENT_TRACE


async def test_probes_make_no_span(served: Served) -> None:
    async with client(served.app) as http:
        assert (await http.get("/healthz")).status_code == 200
    assert served.spans.get_finished_spans() == ()


def test_the_edge_is_one_layer_and_fastapis_own_telemetry_is_off(served: Served) -> None:
    assert [layer.cls for layer in served.app.user_middleware] == [Edge, BodyLimit]
    assert not served.app._native_telemetry.enabled()

"""With no tracer (nothing exports spans) the edge makes no span, yet every request still has a
trace current while the app runs: the caller's ``traceparent``, or a new one per request, which
the events it publishes and its logs carry on."""

import httpx
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.propagate import inject
from opentelemetry.trace import SpanContext

from helpline_shared.runtime.edge import Edge
from helpline_shared.runtime.service import NO_TELEMETRY

PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_no_span_is_made_but_each_request_has_its_trace() -> None:
    seen: list[tuple[SpanContext, bool, dict[str, str]]] = []
    app = FastAPI(telemetry=NO_TELEMETRY)  # as a service's app: the edge is its tracing

    @app.post("/v1/things", status_code=201)
    async def change() -> None:
        span = trace.get_current_span()
        carried: dict[str, str] = {}
        inject(carried)  # as the outbox stamps an event published now
        seen.append((span.get_span_context(), span.is_recording(), carried))

    app.add_middleware(Edge, tracer=None)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://service"
    ) as client:
        parent = f"00-{PARENT_TRACE}-00f067aa0ba902b7-01"
        answers = [
            await client.post("/v1/things", headers={"traceparent": parent}),
            await client.post("/v1/things"),
            await client.post("/v1/things"),
        ]
    assert [answer.status_code for answer in answers] == [201] * 3
    assert all(answer.headers["x-request-id"] for answer in answers)
    contexts = [context for context, _recording, _carried in seen]
    assert not any(recording for _context, recording, _carried in seen)
    assert all(context.is_valid for context in contexts)
    traces = [format(context.trace_id, "032x") for context in contexts]
    assert traces[0] == PARENT_TRACE
    assert len(set(traces)) == 3  # a new trace for each request without one
    assert [carried["traceparent"].split("-")[1] for *_, carried in seen] == traces
    assert not trace.get_current_span().get_span_context().is_valid  # detached after

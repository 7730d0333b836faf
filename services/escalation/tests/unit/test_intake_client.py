"""The call that opens a preventive ticket in intake: escalation's own service key acting for the
ticket's tenant, in a client span whose context intake gets."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from helpline_escalation.adapters.intake_client import HttpTicketOpener


class Intake(BaseHTTPRequestHandler):
    """Answers 201 with a ticket id, keeping each request's headers."""

    headers_seen: list[dict[str, str]] = []

    def do_POST(self) -> None:
        """Open a ticket."""
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
        body = json.dumps({"id": "T-42"}).encode()
        self.send_response(201)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def intake() -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), type("Handler", (Intake,), {"headers_seen": seen})
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


async def test_opening_a_ticket_is_a_client_span_whose_context_intake_receives(
    intake: tuple[str, list[dict[str, str]]],
) -> None:
    url, seen = intake
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    opener = HttpTicketOpener(url, "hlk_escalation", tracer_provider=provider)

    with provider.get_tracer("test").start_as_current_span("timer fire") as firing:
        ticket_id = await opener.open_ticket("acme", {"subject": "Tapes"}, "key-1")

    assert ticket_id == "T-42"
    [call] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert call.name == "POST"
    assert call.parent is not None and call.parent.span_id == firing.get_span_context().span_id
    _version, trace_id, parent_id, _flags = seen[0]["traceparent"].split("-")
    assert trace_id == format(firing.get_span_context().trace_id, "032x")
    assert parent_id == format(call.context.span_id, "016x")

"""Telemetry to the OpenTelemetry conventions: resource, exporters from ``OTEL_*`` (OTLP over
gRPC and HTTP, received by real in-process receivers), messaging spans, database spans, HTTP
server metrics on ``/metrics`` and trace/span ids in every log line."""

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent import futures
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from aiokafka import ConsumerRecord
from aiokafka.structs import RecordMetadata, TopicPartition
from fastapi import APIRouter, HTTPException
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import MetaData, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_shared.events import TicketStatusChanged
from helpline_shared.runtime import telemetry
from helpline_shared.runtime.consumer import _consumer_span
from helpline_shared.runtime.db import create_engine, outbox_table, utcnow
from helpline_shared.runtime.outbox import OutboxRelay, outbox_row
from helpline_shared.runtime.service import ServiceRuntime
from helpline_shared.runtime.settings import ServiceSettings

OTEL_VARIABLES = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SERVICE_NAME",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
)


@pytest.fixture(autouse=True)
def clean_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def memory_provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


# --- resource -----------------------------------------------------------------------------


def test_the_resource_names_service_version_environment_instance_and_kubernetes_pod() -> None:
    environ = {
        "K8S_POD_NAME": "intake-7f9c-x2",
        "K8S_NAMESPACE_NAME": "helpdesk",
        "K8S_NODE_NAME": "node-3",
        "K8S_POD_UID": "4b0c-uid",
    }
    resource = telemetry.service_resource(
        "helpline-intake",
        service_version=telemetry.service_version("helpline-intake"),
        environment="staging",
        environ=environ,
    )
    attributes = dict(resource.attributes)
    assert attributes["service.name"] == "helpline-intake"
    assert attributes["service.version"] == version("helpline-intake")
    assert attributes["deployment.environment.name"] == "staging"
    assert attributes["k8s.pod.name"] == "intake-7f9c-x2"
    assert attributes["k8s.namespace.name"] == "helpdesk"
    assert attributes["k8s.node.name"] == "node-3"
    assert attributes["k8s.pod.uid"] == "4b0c-uid"
    other = telemetry.service_resource("helpline-intake", service_version="1", environ={})
    assert attributes["service.instance.id"] != other.attributes["service.instance.id"]
    assert "k8s.pod.name" not in other.attributes


def test_otel_resource_attributes_and_service_name_override_what_helpline_finds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=production,team=helpdesk"
    )
    monkeypatch.setenv("OTEL_SERVICE_NAME", "intake-eu")
    attributes = telemetry.service_resource(
        "helpline-intake", service_version="0.1.0", environment="staging", environ={}
    ).attributes
    assert attributes["deployment.environment.name"] == "production"
    assert attributes["team"] == "helpdesk"
    assert attributes["service.name"] == "intake-eu"
    assert attributes["service.version"] == "0.1.0"


# --- exporters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp_proto_http"]),
        (
            {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4317",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            },
            ["otlp_proto_grpc"],
        ),
        (
            {
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            },
            ["otlp_proto_http"],
        ),
        ({"OTEL_TRACES_EXPORTER": "console,otlp"}, ["console", "otlp_proto_http"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, []),
        ({"OTEL_TRACES_EXPORTER": "otlp_proto_grpc"}, ["otlp_proto_grpc"]),
    ],
)
def test_exporters_follow_the_standard_variables(environ: dict[str, str], names: list[str]) -> None:
    assert telemetry.trace_exporter_names(environ) == names


def test_the_protocol_picks_the_grpc_or_the_http_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcExporter,
    )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    [grpc_exporter] = telemetry.span_exporters()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    [http_exporter] = telemetry.span_exporters()
    assert isinstance(grpc_exporter, GrpcExporter)
    assert isinstance(http_exporter, HttpExporter)
    grpc_exporter.shutdown()
    http_exporter.shutdown()


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
        {"OTEL_TRACES_EXPORTER": "zipkin-over-pigeons"},
    ],
)
def test_an_unusable_exporter_setting_fails_at_start(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(telemetry.TelemetryMisconfigured):
        telemetry.span_exporters()


def test_the_sampler_follows_otel_traces_sampler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    provider = telemetry.tracer_provider(
        telemetry.service_resource("helpline-intake", service_version="1", environ={})
    )
    with provider.get_tracer("test").start_as_current_span("sampled out") as span:
        assert not span.is_recording()


class GrpcTraceReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC collector on a loopback port, keeping what it receives."""

    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.metadata: list[dict[str, str]] = []

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        """Keep one export."""
        self.requests.append(request)
        self.metadata.append({item.key: item.value for item in context.invocation_metadata()})
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def grpc_receiver() -> Iterator[tuple[GrpcTraceReceiver, int]]:
    receiver = GrpcTraceReceiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield receiver, port
    server.stop(grace=None)


class HttpTraceReceiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP collector: keeps each export's protobuf body and headers."""

    received: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        """Keep one export."""
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def http_receiver() -> Iterator[tuple[list[tuple[str, dict[str, str], bytes]], int]]:
    received: list[tuple[str, dict[str, str], bytes]] = []
    handler = type("Handler", (HttpTraceReceiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield received, server.server_address[1]
    server.shutdown()
    server.server_close()


def exported_spans(
    request: trace_service_pb2.ExportTraceServiceRequest,
) -> list[tuple[dict[str, str], str]]:
    """(resource attributes, span name) of every span in one export."""
    return [
        ({a.key: a.value.string_value for a in rs.resource.attributes}, span.name)
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]


def export_one_span(name: str) -> None:
    resource = telemetry.service_resource(
        "helpline-routing", service_version="9.9.9", environment="test", environ={}
    )
    provider = telemetry.tracer_provider(resource)
    with provider.get_tracer("test").start_as_current_span(name):
        pass
    assert provider.force_flush(10_000)
    provider.shutdown()


def test_spans_reach_an_otlp_grpc_receiver_with_their_resource_and_headers(
    grpc_receiver: tuple[GrpcTraceReceiver, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver, port = grpc_receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-scope-orgid=helpdesk")
    export_one_span("over grpc")
    [(resource, name)] = [span for request in receiver.requests for span in exported_spans(request)]
    assert name == "over grpc"
    assert resource["service.name"] == "helpline-routing"
    assert resource["service.version"] == "9.9.9"
    assert resource["deployment.environment.name"] == "test"
    assert receiver.metadata[0]["x-scope-orgid"] == "helpdesk"


def test_spans_reach_an_otlp_http_receiver_on_the_traces_path(
    http_receiver: tuple[list[tuple[str, dict[str, str], bytes]], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    received, port = http_receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-scope-orgid=helpdesk")
    export_one_span("over http")
    [(path, headers, body)] = received
    request = trace_service_pb2.ExportTraceServiceRequest()
    request.ParseFromString(body)
    [(resource, name)] = exported_spans(request)
    assert (path, name, resource["service.version"]) == ("/v1/traces", "over http", "9.9.9")
    assert headers["x-scope-orgid"] == "helpdesk"


# --- messaging spans ----------------------------------------------------------------------


def kafka_record(headers: list[tuple[str, bytes]]) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="helpline.tickets",
        partition=3,
        offset=42,
        timestamp=0,
        timestamp_type=0,
        key=b"T-1",
        value=b"{}",
        checksum=None,
        serialized_key_size=3,
        serialized_value_size=2,
        headers=headers,
    )


def test_a_consumer_span_is_named_and_described_per_the_messaging_conventions() -> None:
    provider, exporter = memory_provider()
    with provider.get_tracer("producer").start_as_current_span("send") as sending:
        carrier = dict(outbox_row(status_changed(), source="/t", event_id="ev-1")["headers"])
    record = kafka_record([(name, value.encode()) for name, value in carrier.items()])
    with _consumer_span(provider.get_tracer("test"), record, "helpline-routing"):
        pass
    [span] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CONSUMER]
    assert span.name == "process helpline.tickets"
    assert dict(span.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": "helpline.tickets",
        "messaging.message.id": "ev-1",
        "messaging.kafka.message.key": "T-1",
        "messaging.consumer.group.name": "helpline-routing",
        "messaging.destination.partition.id": "3",
        "messaging.kafka.offset": 42,
    }
    assert span.parent is not None
    assert span.parent.span_id == sending.get_span_context().span_id


def status_changed() -> TicketStatusChanged:
    return TicketStatusChanged(
        tenant_id="acme",
        ticket_id="T-1",
        occurred_at=utcnow(),
        previous_status="new",
        status="open",
    )


class FakeProducer:
    """Acknowledges every record at once, keeping what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[tuple[str, bytes]]]] = []

    async def send(
        self, topic: str, *, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> "asyncio.Future[RecordMetadata]":
        self.sent.append((topic, headers))
        delivery: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        delivery.set_result(
            RecordMetadata(topic, 5, TopicPartition(topic, 5), 1000 + len(self.sent), -1, 0, -1)
        )
        return delivery


@pytest.fixture
async def outbox_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    metadata = MetaData()
    outbox_table(metadata)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def test_the_relay_publishes_in_a_producer_span_child_of_the_staging_span(
    outbox_engine: AsyncEngine,
) -> None:
    provider, exporter = memory_provider()
    table = outbox_table(MetaData())
    with provider.get_tracer("test").start_as_current_span("create ticket") as staging:
        row = outbox_row(status_changed(), source="/t", event_id="ev-2")
    async with outbox_engine.begin() as connection:
        await connection.execute(insert(table), [row])
    producer = FakeProducer()
    relay = OutboxRelay(
        engine=outbox_engine,
        table=table,
        producer=producer,  # type: ignore[arg-type]
        service="test",
        tracer_provider=provider,
        hand_off_grace=timedelta(0),  # the row was written just now, not handed off
    )

    assert await relay.publish_pending() == 1

    [send] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.PRODUCER]
    assert send.name == f"send {row['topic']}"
    assert send.parent is not None and send.parent.span_id == staging.get_span_context().span_id
    assert send.context.trace_id == staging.get_span_context().trace_id
    attributes = dict(send.attributes or {})
    assert attributes["messaging.operation.name"] == "send"
    assert attributes["messaging.operation.type"] == "send"
    assert attributes["messaging.message.id"] == "ev-2"
    assert attributes["messaging.destination.partition.id"] == "5"
    assert attributes["messaging.kafka.offset"] == 1001
    # Consumers continue from the producer span, in the same trace.
    [(_topic, headers)] = producer.sent
    traceparent = dict(headers)["traceparent"].decode().split("-")
    assert traceparent[1] == format(send.context.trace_id, "032x")
    assert traceparent[2] == format(send.context.span_id, "016x")
    assert [name for name, _ in headers].count("traceparent") == 1


# --- database spans -----------------------------------------------------------------------


async def test_sql_is_traced_inside_a_span_without_its_parameters_and_not_outside(
    outbox_engine: AsyncEngine,
) -> None:
    provider, exporter = memory_provider()
    telemetry.instrument_database(outbox_engine.sync_engine, provider)
    secret = "dana@customer.example"
    table = outbox_table(MetaData())
    async with outbox_engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
        assert exporter.get_finished_spans() == ()  # polling outside any span: no trace each
        with provider.get_tracer("test").start_as_current_span("handle") as handling:
            await connection.execute(select(table.c.id).where(table.c.topic == secret))
    [query] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert query.parent is not None
    assert query.parent.span_id == handling.get_span_context().span_id
    assert query.name.startswith("SELECT")
    attributes = dict(query.attributes or {})
    assert attributes["db.system"] == "sqlite"
    assert "FROM outbox" in str(attributes["db.statement"])
    assert secret not in json.dumps({k: str(v) for k, v in attributes.items()})


# --- HTTP server metrics ------------------------------------------------------------------


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Any]:
    router = APIRouter()

    @router.get("/v1/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        if thing_id == "missing":
            raise HTTPException(404, "no such thing")
        if thing_id == "broken":
            raise RuntimeError("the thing broke")
        return {"id": thing_id}

    runtime = ServiceRuntime(
        name="metrics-test", settings=ServiceSettings(data_dir=tmp_path), metadata=MetaData()
    )
    yield runtime.http_app("metrics test", [router])
    await runtime.engine.dispose()


def metric_lines(text: str, route: str) -> list[str]:
    return [
        line
        for line in text.splitlines()
        if line.startswith("http_server_request_duration_seconds_count")
        and f'http_route="{route}"' in line
    ]


async def test_http_requests_appear_on_metrics_by_route_template_method_and_status(
    app: Any,
) -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        for thing in ("a-1", "b-2", "missing", "broken"):
            await client.get(f"/v1/things/{thing}")
        await client.get("/no/route/here-123")
        exposed = (await client.get("/metrics")).text
    counts = {
        line.split("{", 1)[1].rsplit("}", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in metric_lines(exposed, "/v1/things/{thing_id}")
    }
    route = (
        'http_request_method="GET",http_response_status_code="{}",http_route="/v1/things/'
        '{{thing_id}}"'
    )
    assert counts[route.format(200)] >= 2
    assert counts[route.format(404)] >= 1
    assert counts[route.format(500)] >= 1
    assert "http_server_request_duration_seconds_bucket{" in exposed
    # No id becomes a label; requests that matched no route share one empty route.
    for raw in ("a-1", "b-2", "here-123", "/no/route"):
        assert raw not in exposed
    assert metric_lines(exposed, "")
    assert not metric_lines(exposed, "/metrics")


# --- logs ---------------------------------------------------------------------------------


def test_every_log_line_carries_the_trace_id_and_span_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    provider, _exporter = memory_provider()
    try:
        telemetry.setup_logging("test", "INFO")
        with provider.get_tracer("test").start_as_current_span("work") as span:
            logging.getLogger("helpline.test").info("inside a span")
        logging.getLogger("helpline.test").info("outside")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    inside, outside = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    context = span.get_span_context()
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert outside["trace_id"] is None and outside["span_id"] is None

"""Tracing and structured logs, configured once per process by the service's bootstrap.

The standard ``OTEL_*`` variables rule, read by the OpenTelemetry SDK itself wherever it can:
``OTEL_TRACES_EXPORTER`` picks the exporters (``otlp``, ``console``, ``none``, or any installed
exporter's name), ``OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL`` picks OTLP over ``grpc`` or
``http/protobuf`` (the specification's default), and the exporters read their own endpoint,
headers, timeout, compression and certificate variables; the sampler (``OTEL_TRACES_SAMPLER``),
the batch processor (``OTEL_BSP_*``), span limits, propagators (``OTEL_PROPAGATORS``),
``OTEL_SDK_DISABLED``, ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` are the SDK's. One
departure: with ``OTEL_TRACES_EXPORTER`` unset, spans are exported only when an OTLP endpoint is
set, so that a laptop without a collector is not told every few seconds that none answers.

Logs are JSON lines carrying the current ``trace_id`` and ``span_id``; nothing personal
(addresses, bodies) is logged by Helpline's code.
"""

import logging
import os
import sys
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, entry_points, version
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.util.types import Attributes
from pythonjsonlogger.json import JsonFormatter

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
EXPORTER_BY_PROTOCOL = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}
DEFAULT_PROTOCOL = "http/protobuf"
KUBERNETES_ATTRIBUTES = {
    # Set by the chart from the downward API (fieldRef).
    "k8s.pod.name": "K8S_POD_NAME",
    "k8s.pod.uid": "K8S_POD_UID",
    "k8s.namespace.name": "K8S_NAMESPACE_NAME",
    "k8s.node.name": "K8S_NODE_NAME",
}
MAX_KEY_LENGTH = 200


class TelemetryMisconfigured(ValueError):
    """An ``OTEL_*`` variable names something this installation cannot do."""


def service_version(distribution: str) -> str:
    """The installed version of ``distribution`` (Helpline's own when it is not installed)."""
    for name in (distribution, "helpline-shared"):
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "unknown"


def service_resource(
    service_name: str,
    *,
    service_version: str,
    environment: str = "",
    environ: Mapping[str, str] | None = None,
) -> Resource:
    """The resource describing this process; ``OTEL_RESOURCE_ATTRIBUTES`` and
    ``OTEL_SERVICE_NAME`` override what Helpline finds itself."""
    environ = os.environ if environ is None else environ
    found: dict[str, str] = {
        "service.name": service_name,
        "service.version": service_version,
        "service.instance.id": str(uuid.uuid4()),
    }
    if environment:
        found["deployment.environment.name"] = environment
    for attribute, variable in KUBERNETES_ATTRIBUTES.items():
        if environ.get(variable):
            found[attribute] = environ[variable]
    configured = OTELResourceDetector().detect().attributes
    return Resource.create({**found, **configured})


def trace_exporter_names(environ: Mapping[str, str] | None = None) -> list[str]:
    """The entry-point names of the span exporters the ``OTEL_*`` variables ask for."""
    environ = os.environ if environ is None else environ
    wanted = environ.get("OTEL_TRACES_EXPORTER")
    if wanted is None:
        wanted = "otlp" if any(environ.get(name) for name in ENDPOINT_VARIABLES) else "none"
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or DEFAULT_PROTOCOL
    ).strip()
    names: list[str] = []
    for name in (part.strip() for part in wanted.split(",")):
        if name in ("", "none"):
            continue
        if name == "otlp":
            if protocol not in EXPORTER_BY_PROTOCOL:
                raise TelemetryMisconfigured(
                    f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported; "
                    f"use one of {sorted(EXPORTER_BY_PROTOCOL)}"
                )
            name = EXPORTER_BY_PROTOCOL[protocol]
        names.append(name)
    return names


def span_exporters(environ: Mapping[str, str] | None = None) -> list[SpanExporter]:
    """The span exporters the ``OTEL_*`` variables ask for, each configured by its own
    variables (endpoint, headers, timeout, compression, certificate)."""
    exporters: list[SpanExporter] = []
    for name in trace_exporter_names(environ):
        found = entry_points(group="opentelemetry_traces_exporter", name=name)
        if not found:
            raise TelemetryMisconfigured(f"OTEL_TRACES_EXPORTER: no exporter named {name!r}")
        exporter_class = next(iter(found)).load()
        exporters.append(exporter_class())
    return exporters


_SILENT: "weakref.WeakSet[TracerProvider]" = weakref.WeakSet()
"""Providers made here without any exporter: their spans reach no one."""


def tracer_provider(resource: Resource, environ: Mapping[str, str] | None = None) -> TracerProvider:
    """A tracer provider exporting as the ``OTEL_*`` variables say (not installed globally)."""
    # Sampler, span limits and OTEL_SDK_DISABLED come from the environment inside the SDK.
    provider = TracerProvider(resource=resource)
    exporters = span_exporters(environ)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    if not exporters:
        _SILENT.add(provider)
    return provider


def exports_spans(provider: trace.TracerProvider) -> bool:
    """False only for a provider made by ``tracer_provider`` with no exporter (a provider
    made elsewhere, a test's in-memory one, may export: True)."""
    return provider not in _SILENT


def setup_tracing(
    service_name: str, *, service_version: str = "unknown", environment: str = ""
) -> TracerProvider:
    """Install and return the process's tracer provider for ``service_name``."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = tracer_provider(
        service_resource(service_name, service_version=service_version, environment=environment)
    )
    trace.set_tracer_provider(provider)
    return provider


class _ChildSpansOnlyTracer:
    """The ``start_span`` of a tracer, starting real spans only inside a recording span."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: Attributes = None,
    ) -> trace.Span:
        """A child span of the current span, or a non-recording span at the root."""
        if not trace.get_current_span(context).is_recording():
            return trace.INVALID_SPAN
        return self._tracer.start_span(name, context, kind, attributes)


def instrument_database(engine: Any, provider: trace.TracerProvider) -> None:
    """Trace the SQL statements ``engine`` (a sync ``Engine``) runs inside a traced operation.

    Statements run outside any span (the relay's, the timer loop's and the delivery worker's
    polling) make no span: each would otherwise be a trace of its own, several a second. The
    statement text is recorded, its parameters never are.
    """
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import NoOpUpDownCounter

    tracer = _ChildSpansOnlyTracer(
        trace.get_tracer("opentelemetry.instrumentation.sqlalchemy", tracer_provider=provider)
    )
    # Connection-pool usage is not exported (no OTel metrics pipeline; Prometheus serves ours).
    EngineTracer(  # type: ignore[no-untyped-call]
        tracer, engine, NoOpUpDownCounter("db.client.connections.usage")
    )


def kafka_attributes(
    operation: str, topic: str, *, message_id: str, key: bytes | None
) -> dict[str, str]:
    """Messaging attributes shared by Kafka ``send`` and ``process`` spans (semantic
    conventions); the key is a ticket id, never personal data."""
    attributes = {
        "messaging.system": "kafka",
        "messaging.operation.name": operation,
        "messaging.operation.type": operation,
        "messaging.destination.name": topic,
        "messaging.message.id": message_id,
    }
    if key:
        attributes["messaging.kafka.message.key"] = key.decode(errors="replace")[:MAX_KEY_LENGTH]
    return attributes


class _TraceContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        record.trace_id = format(context.trace_id, "032x") if context.is_valid else None
        record.span_id = format(context.span_id, "016x") if context.is_valid else None
        return True


REPEAT_WINDOW = 30.0
"""Seconds during which a Kafka client's repeated warning is logged once."""


class RepeatsOnce(logging.Filter):
    """Lets one record of each repeated Kafka client warning through per ``window`` seconds.

    While the broker is away, aiokafka retries every ``retry_backoff_ms`` (100 ms) and logs a
    warning or an error at each attempt, several loggers at once (aiokafka issue #496): about
    70 JSON lines a second per service, each formatted and written. The first record of a kind
    (logger and message template, whatever its arguments) passes; the next ones within the
    window are counted, and the first after it carries ``repeated``: how many were dropped.
    """

    def __init__(
        self,
        window: float = REPEAT_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        prefixes: tuple[str, ...] = ("aiokafka",),
    ) -> None:
        super().__init__()
        self._window = window
        self._clock = clock
        self._prefixes = prefixes
        self._seen: dict[tuple[str, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` is logged: not a repeat of one logged within the window."""
        if record.levelno < logging.WARNING or not record.name.startswith(self._prefixes):
            return True
        key = (record.name, record.msg)
        now = self._clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self._window:
            self._seen[key] = (seen[0], seen[1] + 1)
            return False
        if seen is not None and seen[1]:
            record.repeated = seen[1]
        self._seen[key] = (now, 0)
        return True


def setup_logging(service_name: str, level: str) -> None:
    """Send JSON log lines with ``service``, ``trace_id`` and ``span_id`` to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "asctime": "time"},
            static_fields={"service": service_name},
        )
    )
    handler.addFilter(RepeatsOnce())
    handler.addFilter(_TraceContext())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiosqlite logs every statement with its parameters (addresses, bodies) at DEBUG.
    for noisy in ("aiokafka", "uvicorn.access", "aiosqlite"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

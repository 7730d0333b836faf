"""Tracing and structured logs, configured once per process by the service's bootstrap.

Exporters follow the standard ``OTEL_*`` variables: OTLP/HTTP when an OTLP endpoint is set,
console spans when ``OTEL_TRACES_EXPORTER=console``, otherwise none. Logs are JSON lines carrying
the current ``trace_id``; nothing personal (addresses, bodies) is logged by Helpline's code.
"""

import logging
import os
import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from pythonjsonlogger.json import JsonFormatter


def setup_tracing(service_name: str) -> TracerProvider:
    """Install and return the process's tracer provider for ``service_name``."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = TracerProvider(
        resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME",
                                                                 service_name)})
    )
    exporter_names = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")
    has_endpoint = any(
        os.environ.get(name)
        for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    if "otlp" in exporter_names and has_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if "console" in exporter_names:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


class _TraceContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        record.trace_id = format(context.trace_id, "032x") if context.is_valid else None
        return True


def setup_logging(service_name: str, level: str) -> None:
    """Send JSON log lines with ``service`` and ``trace_id`` to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "asctime": "time"},
            static_fields={"service": service_name},
        )
    )
    handler.addFilter(_TraceContext())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiosqlite logs every statement with its parameters (addresses, bodies) at DEBUG.
    for noisy in ("aiokafka", "uvicorn.access", "aiosqlite"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

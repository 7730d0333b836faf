"""Test doubles that are real servers: a topic recorder, an OTLP trace receiver, a webhook receiver.

They run in background threads so that synchronous and asynchronous tests can both use them.
"""

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer

from helpline_devstack.identity import SERVICE_KEYS
from helpline_devstack.stack import Stack
from helpline_shared.kafka_security import PLAINTEXT, KafkaSecurity, aiokafka_options
from helpline_shared.runtime.testing import stand_in_identity

T = TypeVar("T")


def unique_name(stem: str) -> str:
    """A name no other test uses (topic prefixes, databases, tenants)."""
    return f"{stem}_{uuid.uuid4().hex[:10]}"


def own_keys() -> dict[str, dict[str, str]]:
    """Each service's own key at the stand-in identity as its variable (escalation calls intake
    with one), for ``Stack(service_environment=...)``."""
    return {
        service: {variable: stand_in_identity().service_key(service, scopes)}
        for service, (variable, scopes) in SERVICE_KEYS.items()
    }


class RunningServices:
    """What every cross-service test reaches its running services through.

    A subclass (usually a dataclass) has a ``stack`` and the topic ``prefix`` of its test; its
    services trust the test process's stand-in identity (``stand_in_identity().environment()``).
    """

    stack: Stack
    prefix: str

    def url(self, service: str) -> str:
        """Base URL of ``service``."""
        return self.stack.running[service].url

    def client(self, tenant: str) -> httpx.Client:
        """An HTTP client holding an admin API key of ``tenant``."""
        token = stand_in_identity().api_key(tenant)
        return httpx.Client(headers={"authorization": f"Bearer {token}"}, timeout=10)

    def topic(self, name: str) -> str:
        """The prefixed name of topic ``name``."""
        return self.prefix + name


@dataclass(frozen=True)
class Record:
    """One Kafka record as read back from a topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    received_at: float = 0.0
    """``time.time()`` when the recorder read the record."""

    @property
    def event_type(self) -> str:
        """The CloudEvents type, or "" for a record that has none."""
        return self.headers.get("ce_type", b"").decode()

    @property
    def event_id(self) -> str:
        """The CloudEvents id, or ""."""
        return self.headers.get("ce_id", b"").decode()

    def data(self) -> dict[str, Any]:
        """The JSON data of the record."""
        assert self.value is not None
        parsed: dict[str, Any] = json.loads(self.value)
        return parsed


def wait_until(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


class TopicRecorder:
    """Reads topics from offset 0 in a background thread and keeps every record."""

    def __init__(
        self, bootstrap_servers: str, topics: Sequence[str], security: KafkaSecurity = PLAINTEXT
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._security = security
        self._topics = list(topics)
        self._records: list[Record] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._consume()), daemon=True)

    def __enter__(self) -> "TopicRecorder":
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the topic recorder could not connect to Kafka")
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            *self._topics,
            bootstrap_servers=self._bootstrap_servers,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            # The recorder timestamps what it receives: while a fetch of some partitions waits
            # at the broker, aiokafka fetches no other partition of that broker, so its wait
            # would be counted as the services' latency.
            fetch_max_wait_ms=50,
            **aiokafka_options(self._security),
        )
        await consumer.start()
        self._ready.set()
        try:
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=100)
                now = time.time()
                with self._lock:
                    for records in batches.values():
                        self._records.extend(
                            Record(
                                r.topic,
                                r.partition,
                                r.offset,
                                r.key,
                                r.value,
                                {name: value for name, value in (r.headers or ())},
                                now,
                            )
                            for r in records
                        )
        finally:
            await consumer.stop()

    def records(self, topic: str | None = None) -> list[Record]:
        """Every record read so far (of ``topic``, if given)."""
        with self._lock:
            return [r for r in self._records if topic is None or r.topic == topic]

    def records_since(self, count: int) -> list[Record]:
        """The records read after the first ``count`` (for readers that follow the stream)."""
        with self._lock:
            return self._records[count:]

    def events(self, event_type: str, ticket_id: str | None = None) -> list[Record]:
        """Records of ``event_type`` (about ``ticket_id``, if given)."""
        return [
            r
            for r in self.records()
            if r.event_type == event_type and (ticket_id is None or r.key == ticket_id.encode())
        ]

    def ids_by_ticket(self, event_type: str) -> dict[str, set[str]]:
        """The distinct ``ce_id``s of ``event_type`` read so far, by ticket (record key)."""
        found: dict[str, set[str]] = {}
        for record in self.events(event_type):
            found.setdefault((record.key or b"").decode(), set()).add(record.event_id)
        return found

    def wait_for(self, event_type: str, ticket_id: str, timeout: float = 15) -> Record:
        """The first record of ``event_type`` about ``ticket_id``, waiting up to ``timeout``."""
        found = wait_until(
            lambda: self.events(event_type, ticket_id),
            timeout,
            f"{event_type} for ticket {ticket_id}",
        )
        return found[0]


class _Server:
    """A threaded HTTP server on a free loopback port."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self: T) -> T:
        self._thread.start()  # type: ignore[attr-defined]
        return self

    def __exit__(self, *_exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@dataclass(frozen=True)
class Span:
    """One span received over OTLP."""

    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str


class _OtlpHandler(_QuietHandler):
    def do_POST(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans: list[Span] = []
        for resource_spans in request.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                ),
                "",
            )
            for scope_spans in resource_spans.scope_spans:
                spans.extend(
                    Span(service, s.name, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex())
                    for s in scope_spans.spans
                )
        receiver: OtlpReceiver = self.server.owner  # type: ignore[attr-defined]
        with receiver.lock:
            receiver.spans.extend(spans)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()


class OtlpReceiver(_Server):
    """Receives OTLP/HTTP protobuf trace exports, as a collector would."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.lock = threading.Lock()
        super().__init__(_OtlpHandler)

    def traces(self, trace_id: str) -> list[Span]:
        """The spans of one trace received so far."""
        with self.lock:
            return [span for span in self.spans if span.trace_id == trace_id]


@dataclass(frozen=True)
class WebhookCall:
    """One request the webhook receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float = 0.0


class _WebhookHandler(_QuietHandler):
    # Keep-alive, as partners' endpoints do: HTTP/1.0 made every delivery a new connection.
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        body = self.rfile.read(length)
        if len(body) < length:
            return  # the sender died mid-request: like any HTTP server, take nothing from it
        receiver: WebhookReceiver = self.server.owner  # type: ignore[attr-defined]
        with receiver.lock:
            receiver.calls.append(
                WebhookCall(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time()
                )
            )
            status = receiver.statuses.pop(0) if receiver.statuses else 204
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()


class WebhookReceiver(_Server):
    """Accepts webhook POSTs (204, or the statuses queued in ``statuses``) and keeps them."""

    def __init__(self) -> None:
        self.calls: list[WebhookCall] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        super().__init__(_WebhookHandler)

    def received(self) -> list[WebhookCall]:
        """The calls received so far."""
        with self.lock:
            return list(self.calls)


def readiness(url: str) -> int:
    """The status of ``url``'s ``/readyz`` (0 when it does not answer within 10 s)."""
    import httpx

    try:
        return httpx.get(url + "/readyz", timeout=10).status_code
    except httpx.HTTPError:
        return 0


class TicketLoad:
    """Creates a ticket every ``interval`` s in a thread, keeping every status and accepted id."""

    def __init__(self, url: str, token: str, interval: float = 0.1) -> None:
        self.url = url
        self.token = token
        self.interval = interval
        self.accepted: list[str] = []
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import httpx

        headers = {"authorization": f"Bearer {self.token}"}
        with httpx.Client(headers=headers, timeout=10) as client:
            while not self._stop.is_set():
                try:
                    response = client.post(
                        self.url + "/v1/tickets",
                        json={
                            "subject": "Under load",
                            "description": "still here?",
                            "requester": {"email": "cy@example.org"},
                        },
                    )
                except httpx.HTTPError:
                    self.statuses.append(0)
                else:
                    self.statuses.append(response.status_code)
                    if response.status_code == 201:
                        self.accepted.append(response.json()["id"])
                time.sleep(self.interval)

    def more_accepted(self, count: int) -> Callable[[], bool]:
        """A probe for ``wait_until``: have ``count`` more tickets been accepted since now?"""
        target = len(self.accepted) + count
        return lambda: len(self.accepted) >= target

    def __enter__(self) -> "TicketLoad":
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(15)

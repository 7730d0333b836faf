"""Test doubles that are real servers: a topic recorder, an OTLP trace receiver, a webhook receiver.

They run in background threads so that synchronous and asynchronous tests can both use them.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import socket
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
    timestamp: int = -1
    """The record's Kafka timestamp in ms since the epoch: when its producer made it, or when the
    broker appended it to the log on a topic with ``message.timestamp.type=LogAppendTime``."""

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
    """Reads topics from offset 0 in a background thread and keeps every record.

    ``fetch_max_wait_ms`` and ``fetch_min_bytes`` are its consumer's: a reader that times records
    by their Kafka timestamp rather than by when it read them may fetch in fewer, larger batches
    (each fetch names every partition of every topic, and costs the broker and the reader alike).
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topics: Sequence[str],
        security: KafkaSecurity = PLAINTEXT,
        fetch_max_wait_ms: int = 50,
        fetch_min_bytes: int = 1,
    ) -> None:
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._fetch_min_bytes = fetch_min_bytes
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
            fetch_max_wait_ms=self._fetch_max_wait_ms,
            fetch_min_bytes=self._fetch_min_bytes,
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
                                r.timestamp,
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
    verified: bool | None = None
    """Whether one of its Standard Webhooks signatures is right (None: no secret for its path)."""


_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 410: "Gone"}
_MAX_HEAD = 65536


def signature_valid(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Whether ``headers`` carry a Standard Webhooks signature of ``body`` by ``secret``
    (``whsec_`` and base64, as notify shows it): one HMAC-SHA256, as a partner's receiver does."""
    key = base64.b64decode(secret.removeprefix("whsec_") + "==")
    signed = f"{headers.get('webhook-id', '')}.{headers.get('webhook-timestamp', '')}.".encode()
    expected = base64.b64encode(hmac.new(key, signed + body, hashlib.sha256).digest())
    return any(
        hmac.compare_digest(expected, candidate.encode().removeprefix(b"v1,"))
        for candidate in headers.get("webhook-signature", "").split()
        if candidate.startswith("v1,")
    )


class _WebhookConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection of the webhook receiver: each request is read whole
    (its head, then ``content-length`` bytes of body) from what arrived, kept, and answered."""

    def __init__(self, receiver: "WebhookReceiver") -> None:
        self.receiver = receiver
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None and self._request():
            pass

    def _request(self) -> bool:
        """Take in one whole request from the buffer and answer it; False if none is whole."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > _MAX_HEAD:
                self._answer(431, close=True)
            return False
        lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                self._answer(400, close=True)
                return False
            headers[name.strip().lower()] = value.strip()
        try:
            method, path, version = lines[0].split(" ")
            length = int(headers.get("content-length", "0"))
        except ValueError:
            self._answer(400, close=True)
            return False
        if "chunked" in headers.get("transfer-encoding", "") or length < 0:
            self._answer(411 if length >= 0 else 400, close=True)
            return False
        if len(self.buffer) < end + 4 + length:
            return False  # the rest of the body is still on its way
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
        if method != "POST":
            self._answer(405, close)
            return True
        self._answer(self.receiver.take(path, headers, body), close)
        return True

    def _answer(self, status: int, close: bool) -> None:
        assert self.transport is not None
        reason = _REASONS.get(status, "Status")
        self.transport.write(
            f"HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\n"
            f"{'connection: close' if close else 'connection: keep-alive'}\r\n\r\n".encode()
        )
        if close:
            self.transport.close()
            self.transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        # A request cut off mid-body is dropped: like any HTTP server, take nothing from it.
        self.transport = None
        self.receiver._connections.discard(self)


class WebhookReceiver:
    """Accepts webhook POSTs (204, or the statuses queued in ``statuses``) and keeps them.

    One asyncio loop in one thread serves every connection (keep-alive HTTP/1.1, each request
    read whole before it is answered): a thread per connection reading its head line by line
    (``http.server``) was the busiest part of the pipeline benchmark's harness. With a secret
    for a path (``secrets``), each call's signature is checked (``WebhookCall.verified``).
    """

    def __init__(self) -> None:
        self.calls: list[WebhookCall] = []
        self.statuses: list[int] = []
        self.secrets: dict[str, str] = {}
        """Signing secret by request path: calls to it are verified."""
        self.lock = threading.Lock()
        self._connections: set[_WebhookConnection] = set()
        # Bound now (the URL is known before the receiver starts); served by a loop of its own
        # thread, so that it can be made where another loop runs (the raw baseline's).
        self._socket = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port: int = self._socket.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            self._loop.create_server(self._connection, sock=self._socket)
        )
        self._started.set()
        self._loop.run_forever()

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "WebhookReceiver":
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the webhook receiver did not start")
        return self

    def __exit__(self, *_exc: object) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            for connection in list(self._connections):
                if connection.transport is not None:
                    connection.transport.close()
            await self._server.wait_closed()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._socket.close()
        if not self._loop.is_running():
            self._loop.close()

    def _connection(self) -> "_WebhookConnection":
        connection = _WebhookConnection(self)
        self._connections.add(connection)
        return connection

    def take(self, path: str, headers: dict[str, str], body: bytes) -> int:
        """Keep one call; the status to answer it with."""
        secret = self.secrets.get(path)
        verified = None if secret is None else signature_valid(secret, headers, body)
        with self.lock:
            self.calls.append(WebhookCall(path, headers, body, time.time(), verified))
            return self.statuses.pop(0) if self.statuses else 204

    def received(self) -> list[WebhookCall]:
        """The calls received so far."""
        with self.lock:
            return list(self.calls)

    def received_since(self, count: int) -> list[WebhookCall]:
        """The calls received after the first ``count`` (for readers that follow them)."""
        with self.lock:
            return self.calls[count:]


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

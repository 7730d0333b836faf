"""Webhook POSTs over HTTP/1.1 (h11) straight on asyncio connections.

Every address is checked by the destination guard after DNS and is the address connected to (no
DNS rebinding between check and connect), TLS verifies the certificate of the host name,
redirects are answers (never followed), no proxy from the environment, and only an excerpt of the
answer's body is read. What it drops
is the machinery a webhook never needs (a generic client's settings, an AnyIO stream under a
connection pool under a transport): most of a webhook's CPU.
"""

import asyncio
import ssl
import string
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast
from urllib.parse import quote, urlsplit

import h11
import httpx

from helpline_notify.domain.errors import DestinationRefused
from helpline_shared import netguard

READ_BYTES = 65536
_DEFAULT_PORTS = {"http": 80, "https": 443}


class _Wire(asyncio.Protocol):
    """One connection's bytes: what arrived and not yet read, and whether the peer is gone."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.received = bytearray()
        self.closed = False
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport to write on (uvloop's is no ``asyncio.Transport`` subclass)."""
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        """Keep the bytes for the reader (no more than ``READ_BYTES`` unread: a peer sending
        unasked, or faster than it is read, waits in the kernel's buffers, not in memory)."""
        self.received += data
        if len(self.received) >= READ_BYTES and self.transport is not None:
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        """The peer will send no more: the connection ends after what was received."""
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def read(self) -> bytes:
        """What arrived since the last read, waiting for some; b"" once the peer is gone."""
        while not self.received and not self.closed:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        data, self.received = bytes(self.received), bytearray()
        if self.transport is not None and not self.transport.is_reading():
            self.transport.resume_reading()
        return data


@dataclass
class _Connection:
    wire: _Wire
    protocol: h11.Connection
    idle_since: float = 0.0

    def reusable(self, now: float, expiry: float) -> bool:
        """Whether a new request may go on it: recently used, open, nothing unasked sent."""
        return (
            now - self.idle_since < expiry
            and not self.wire.closed
            and not self.wire.received
            and self.wire.transport is not None
            and not self.wire.transport.is_closing()
            and self.protocol.our_state is h11.IDLE
        )

    def close(self) -> None:
        """Close the connection."""
        if self.wire.transport is not None:
            self.wire.transport.close()


@dataclass(frozen=True)
class Answer:
    """An endpoint's answer: its status, its headers (names lower-cased), its body's start."""

    status_code: int
    headers: dict[str, str]
    excerpt: bytes


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    authority: str
    path: str

    @classmethod
    def of(cls, url: str) -> "_Target":
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname
        if scheme not in _DEFAULT_PORTS or not host:
            raise ValueError(f"not an http(s) URL: {url[:200]!r}")
        if not host.isascii():
            host = host.encode("idna").decode()
        port = parts.port or _DEFAULT_PORTS[scheme]
        named = f"[{host}]" if ":" in host else host
        authority = named if port == _DEFAULT_PORTS[scheme] else f"{named}:{port}"
        path = parts.path or "/"
        if parts.query:
            path += f"?{parts.query}"
        # A space or a non-ASCII character has no place in a request line: percent-encoded.
        return cls(scheme, host, port, authority, quote(path, safe=string.punctuation))


class WebhookHttp:
    """Guarded, pooled HTTP/1.1 POSTs: each request on an idle keep-alive connection to its
    origin, or on a new one to an address the destination guard allowed."""

    def __init__(
        self,
        *,
        allow_private_networks: bool,
        timeout: float,
        max_connections: int = 200,
        max_idle: int = 20,
        keepalive_expiry: float = 5.0,
        user_agent: str = "Helpline-Webhooks/0.1",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._allow_private_networks = allow_private_networks
        self._timeout = timeout
        self._slots = asyncio.Semaphore(max_connections)
        self._max_idle = max_idle
        self._expiry = keepalive_expiry
        self._user_agent = user_agent
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}

    async def post(
        self, url: str, headers: Sequence[tuple[str, str]], body: bytes, excerpt_bytes: int
    ) -> Answer:
        """POST ``body`` to ``url`` within the timeout; read at most ``excerpt_bytes`` of the
        answer's body. Network and protocol failures raise (``OSError``, ``h11.ProtocolError``,
        ``TimeoutError``, ``DestinationRefused``)."""
        target = _Target.of(url)
        key = (target.scheme, target.host, target.port)
        async with self._slots, asyncio.timeout(self._timeout):
            connection = self._reused(key) or await self._connect(target)
            try:
                answer, reusable = await self._exchange(
                    connection, target, headers, body, excerpt_bytes
                )
            except BaseException:
                connection.close()
                raise
            if reusable:
                self._keep(key, connection)
            else:
                connection.close()
            return answer

    def _reused(self, key: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.reusable(now, self._expiry):
                return connection
            connection.close()
        return None

    def _keep(self, key: tuple[str, str, int], connection: _Connection) -> None:
        connection.protocol.start_next_cycle()
        connection.idle_since = time.monotonic()
        idle = self._idle.setdefault(key, [])
        idle.append(connection)
        if sum(len(kept) for kept in self._idle.values()) > self._max_idle:
            idle.pop(0).close()

    async def _connect(self, target: _Target) -> _Connection:
        try:
            addresses = await netguard.resolve_allowed(
                target.host, target.port, allow_private_networks=self._allow_private_networks
            )
        except netguard.DestinationRefused as error:
            raise DestinationRefused(str(error), permanent=False) from error
        context = None
        if target.scheme == "https":
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context(trust_env=False)
            context = self._ssl
        last_error: OSError | None = None
        loop = asyncio.get_running_loop()
        for address in addresses:
            try:
                _transport, wire = await loop.create_connection(
                    _Wire,
                    address,
                    target.port,
                    ssl=context,
                    server_hostname=target.host if context else None,
                )
            except OSError as error:
                last_error = error
                continue
            return _Connection(wire, h11.Connection(h11.CLIENT))
        raise last_error or ConnectionError("the host has no address")

    async def _exchange(
        self,
        connection: _Connection,
        target: _Target,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        excerpt_bytes: int,
    ) -> tuple[Answer, bool]:
        """The answer to one request, and whether the connection may carry another."""
        protocol, wire = connection.protocol, connection.wire
        request = h11.Request(
            method="POST",
            target=target.path,
            headers=[
                ("host", target.authority),
                ("user-agent", self._user_agent),
                ("content-length", str(len(body))),
                *headers,
            ],
        )
        assert wire.transport is not None
        # Head and body leave in one write (one system call, one packet for a small body).
        wire.transport.write(
            b"".join(
                protocol.send(event) or b""
                for event in (request, h11.Data(data=body), h11.EndOfMessage())
            )
        )
        event = await _next(connection)
        while isinstance(event, h11.InformationalResponse):
            event = await _next(connection)
        if not isinstance(event, h11.Response):
            raise ConnectionError("the server closed the connection without answering")
        excerpt, complete = b"", False
        while len(excerpt) < excerpt_bytes:
            part = await _next(connection)
            if isinstance(part, h11.Data):
                excerpt += part.data
            else:
                complete = isinstance(part, h11.EndOfMessage)
                break
        answer = Answer(
            status_code=event.status_code,
            headers={name.decode(): value.decode("latin-1") for name, value in event.headers},
            excerpt=excerpt[:excerpt_bytes],
        )
        reusable = complete and protocol.our_state is h11.DONE and protocol.their_state is h11.DONE
        return answer, reusable

    async def aclose(self) -> None:
        """Close the idle connections."""
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()


async def _next(connection: _Connection) -> object:
    """The next event of the answer, reading as much as it takes."""
    protocol = connection.protocol
    while True:
        event = protocol.next_event()
        if event is not h11.NEED_DATA:
            return event
        protocol.receive_data(await connection.wire.read())

"""An httpx transport that checks every destination address after DNS, before connecting.

The check sits in the connection layer so the address checked is the address connected to (no
DNS rebinding between check and connect) and TLS still verifies the certificate of the host name.
"""

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from helpline_notify.domain.errors import DestinationRefused
from helpline_shared import netguard


class CoalescingStream(httpcore.AsyncNetworkStream):
    """A connection that sends what is written when the answer is first read: httpcore writes
    a request's head and its body apart, two sends (system calls) where one does."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._pending: list[bytes] = []
        self._timeout: float | None = None

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Keep ``buffer`` until the next read (or TLS upgrade)."""
        if buffer:
            self._pending.append(buffer)
            self._timeout = timeout

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Send what was written, then read."""
        await self._flush()
        return await self._inner.read(max_bytes, timeout)

    async def _flush(self) -> None:
        if self._pending:
            data, self._pending = b"".join(self._pending), []
            await self._inner.write(data, self._timeout)

    async def aclose(self) -> None:
        """Close the connection (what was not sent is dropped with it)."""
        self._pending = []
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Upgrade the connection to TLS, coalescing on it as well."""
        await self._flush()
        return CoalescingStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        """What the inner stream tells."""
        return self._inner.get_extra_info(info)


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves host names through the shared destination guard (``helpline_shared.netguard``)."""

    def __init__(
        self, *, allow_private_networks: bool, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self._allow_private_networks = allow_private_networks
        self._inner = inner or httpcore.AnyIOBackend()

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses ``host`` resolves to, all of them allowed, or ``DestinationRefused``."""
        try:
            return await netguard.resolve_allowed(
                host, port, allow_private_networks=self._allow_private_networks
            )
        except netguard.HostNotResolved as error:
            raise httpcore.ConnectError(str(error)) from error
        except netguard.DestinationRefused as error:
            raise DestinationRefused(str(error), permanent=False) from error

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Connect to the first reachable checked address of ``host`` (its writes coalesced)."""
        last_error: Exception | None = None
        for address in await self.resolve(host, port):
            try:
                return CoalescingStream(
                    await self._inner.connect_tcp(
                        address, port, timeout, local_address, socket_options
                    )
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last_error = error
        raise last_error or httpcore.ConnectError("the host has no address")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Refused: webhooks only go to network addresses."""
        raise DestinationRefused("refused: unix sockets are not webhook destinations")

    async def sleep(self, seconds: float) -> None:
        """Sleep as the inner backend does."""
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, on a connection pool that uses ``GuardedNetworkBackend``."""

    def __init__(
        self,
        *,
        allow_private_networks: bool,
        max_connections: int,
        inner_backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        super().__init__(trust_env=False)
        # httpx has no public way to pass a network backend; we replace the pool it built with
        # one configured the same way (verified TLS, HTTP/1.1) plus our backend.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=max_connections,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=GuardedNetworkBackend(
                allow_private_networks=allow_private_networks, inner=inner_backend
            ),
        )


def webhook_client(
    *,
    allow_private_networks: bool,
    timeout: float,
    max_connections: int = 200,
    inner_backend: httpcore.AsyncNetworkBackend | None = None,
) -> httpx.AsyncClient:
    """The HTTP client for webhooks: SSRF-guarded, no redirects, no proxies from the env."""
    return httpx.AsyncClient(
        transport=GuardedTransport(
            allow_private_networks=allow_private_networks,
            max_connections=max_connections,
            inner_backend=inner_backend,
        ),
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(timeout),
        headers={"user-agent": "Helpline-Webhooks/0.1"},
    )

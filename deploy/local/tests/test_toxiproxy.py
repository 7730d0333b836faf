"""The Toxiproxy helper in front of a TCP echo server, and reading group generations from a log."""

import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpline_devstack.kafka import KafkaNode
from helpline_devstack.toxiproxy import Proxy, Toxiproxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(1024):
            self.request.sendall(data)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Proxy]:
    """A proxy in front of an echo server."""
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo) as echo:
        threading.Thread(target=echo.serve_forever, daemon=True).start()
        with Toxiproxy(tmp_path) as toxiproxy:
            yield toxiproxy.proxy("echo", upstream=f"127.0.0.1:{echo.server_address[1]}")
        echo.shutdown()


def echoed(proxy: Proxy, payload: bytes = b"ping") -> bytes:
    """What comes back through the proxy within a second (b"" if nothing)."""
    with socket.create_connection(("127.0.0.1", proxy.listen), timeout=1) as connection:
        connection.sendall(payload)
        try:
            return connection.recv(1024)
        except (TimeoutError, ConnectionError):
            return b""


@pytest.mark.integration
def test_a_proxy_forwards_until_a_toxic_or_a_cut_stops_it(proxy: Proxy) -> None:
    assert echoed(proxy) == b"ping"
    proxy.add_toxic("timeout", "downstream", timeout=0)
    assert echoed(proxy) == b""
    proxy.remove_all_toxics()
    assert echoed(proxy) == b"ping"
    proxy.disable()
    with pytest.raises(ConnectionRefusedError):
        echoed(proxy)
    proxy.enable()
    assert echoed(proxy) == b"ping"


def test_group_generations_are_read_from_the_broker_log(tmp_path: Path) -> None:
    node = KafkaNode(tmp_path)
    node.home.mkdir(parents=True, exist_ok=True)
    node.log_file.write_text(
        "[GroupCoordinator id=1] Stabilized group orders generation 1 with 1 members.\n"
        "[GroupCoordinator id=1] Stabilized group orders-audit generation 7 with 1 members.\n"
        "[GroupCoordinator id=1] Group orders with generation 2 is now empty.\n"
        "[GroupCoordinator id=1] Stabilized group orders generation 3 with 2 members.\n"
    )
    assert node.group_generations("orders") == [1, 3]
    assert node.group_generations("absent") == []

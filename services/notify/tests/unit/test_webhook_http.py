"""Webhooks on notify's own HTTP/1.1 client: guarded, signed, no redirects, bounded answers,
kept-alive connections."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvloop
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from test_webhook_sender import BODY, Receiver, receiver, request_to, serving

from helpline_notify.adapters.webhook_http import WebhookHttp
from helpline_notify.adapters.webhooks import GuardedWebhookSender
from helpline_notify.domain.errors import DeliveryAttemptFailed, DestinationRefused
from helpline_notify.domain.model import new_webhook_secret

__all__ = ["receiver"]


def sender(*, allow_private_networks: bool = True, timeout: float = 5.0) -> GuardedWebhookSender:
    return GuardedWebhookSender(
        WebhookHttp(allow_private_networks=allow_private_networks, timeout=timeout)
    )


class Peers(Receiver):
    """Also keeps the client address (its port tells the connection) of each request, and
    answers ``/large`` with a large body."""

    def __init__(self) -> None:
        super().__init__()
        self.peers: list[tuple[str, int]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.peers.append(tuple(scope["client"]))
        if scope["path"] != "/large":
            await super().__call__(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x" * 100_000})


@pytest.fixture
async def peers() -> AsyncIterator[tuple[Peers, str]]:
    app = Peers()
    async with serving(app) as base_url:
        yield app, base_url


async def test_a_signed_post_reaches_the_receiver_with_its_headers(
    receiver: tuple[Receiver, str],
) -> None:
    app, base_url = receiver
    secret = new_webhook_secret()
    webhooks = sender()

    response = await webhooks.send(request_to(f"{base_url}/in?tenant=acme", secret))
    await webhooks.aclose()

    assert response.status_code == 200 and response.excerpt == "ok"
    [(path, headers, body)] = app.requests
    assert path == "/in"
    assert headers["host"] == base_url.removeprefix("http://")
    assert headers["user-agent"] == "Helpline-Webhooks/0.1"
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
    assert Webhook(secret).verify(body, headers) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(body, headers)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9/hook",
        "http://localhost:9/hook",
    ],
)
async def test_private_destinations_are_refused_before_connecting(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    connections: list[object] = []

    async def connect(*args: object, **kwargs: object) -> None:
        connections.append(args)

    monkeypatch.setattr(asyncio.get_running_loop(), "create_connection", connect)
    webhooks = sender(allow_private_networks=False)
    with pytest.raises(DestinationRefused, match=r"^refused: the host resolves to"):
        await webhooks.send(request_to(url))
    assert connections == []


async def test_metadata_is_refused_even_when_private_networks_are_allowed() -> None:
    with pytest.raises(DestinationRefused, match="cloud metadata"):
        await sender().send(request_to("http://169.254.169.254/latest/meta-data"))


async def test_redirects_are_answers_not_followed(receiver: tuple[Receiver, str]) -> None:
    app, base_url = receiver
    app.answers["/moved"] = (307, [(b"location", f"{base_url}/elsewhere".encode())])
    webhooks = sender()

    response = await webhooks.send(request_to(f"{base_url}/moved"))
    await webhooks.aclose()

    assert response.status_code == 307
    assert [path for path, _headers, _body in app.requests] == ["/moved"]


async def test_retry_after_is_read_from_the_answer(receiver: tuple[Receiver, str]) -> None:
    app, base_url = receiver
    app.answers["/busy"] = (429, [(b"retry-after", b"120")])
    webhooks = sender()

    response = await webhooks.send(request_to(f"{base_url}/busy"))
    await webhooks.aclose()

    assert response.status_code == 429
    assert response.retry_after is not None and response.retry_after.total_seconds() == 120


async def test_one_connection_carries_the_sends_one_after_another(
    peers: tuple[Peers, str],
) -> None:
    app, base_url = peers
    webhooks = sender()

    for _ in range(3):
        await webhooks.send(request_to(f"{base_url}/in"))
    await webhooks.aclose()

    assert len(app.peers) == 3
    assert len(set(app.peers)) == 1, "each send opened a connection of its own"


async def test_only_an_excerpt_of_a_large_answer_is_read(peers: tuple[Peers, str]) -> None:
    app, base_url = peers
    webhooks = sender()

    large = await webhooks.send(request_to(f"{base_url}/large"))
    after = await webhooks.send(request_to(f"{base_url}/in"))
    await webhooks.aclose()

    assert large.excerpt == "x" * 512
    assert after.status_code == 200
    assert app.peers[0] != app.peers[1], "the connection with an unread body is not reused"


async def test_an_endpoint_that_never_answers_is_a_timed_out_attempt() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)  # the request, never answered

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(DeliveryAttemptFailed, match=r"^timed out"):
            await sender(timeout=0.2).send(request_to(f"http://127.0.0.1:{port}/in"))
    finally:
        server.close()


async def test_a_closed_port_is_a_retryable_failure() -> None:
    with pytest.raises(DeliveryAttemptFailed) as failure:
        await sender().send(request_to("http://127.0.0.1:9/in"))
    assert not failure.value.permanent


def test_the_services_event_loop_uvloop_carries_a_send() -> None:
    async def main() -> tuple[int, bytes]:
        received: list[bytes] = []

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            received.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        webhooks = sender()
        response = await webhooks.send(request_to(f"http://127.0.0.1:{port}/in"))
        await webhooks.aclose()
        server.close()
        return response.status_code, received[0]

    status, head = uvloop.run(main())

    assert status == 204
    assert head.startswith(b"POST /in HTTP/1.1\r\n")

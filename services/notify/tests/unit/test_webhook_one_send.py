"""A webhook request leaves in one send: head and body together, not one system call each."""

from collections.abc import Iterable

import httpcore

from helpline_notify.adapters.guarded_transport import webhook_client
from helpline_notify.adapters.webhooks import HttpxWebhookSender
from helpline_notify.domain.model import new_webhook_secret
from helpline_notify.service_layer.ports import WebhookRequest


class RecordingStream(httpcore.AsyncMockStream):
    """A connection answering 204 that keeps every buffer written to it."""

    def __init__(self, writes: list[bytes]) -> None:
        super().__init__([b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"])
        self.writes = writes

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.writes.append(buffer)


class RecordingBackend(httpcore.AsyncMockBackend):
    def __init__(self) -> None:
        super().__init__([])
        self.writes: list[bytes] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return RecordingStream(self.writes)


async def test_head_and_body_are_sent_together() -> None:
    backend = RecordingBackend()
    sender = HttpxWebhookSender(
        webhook_client(allow_private_networks=True, timeout=5.0, inner_backend=backend)
    )
    body = '{"type":"helpline.ticket.assigned.v1","data":{}}'

    response = await sender.send(
        WebhookRequest(
            url="http://127.0.0.1:8123/in",
            message_id="msg_1",
            body=body,
            secret=new_webhook_secret(),
        )
    )
    await sender.aclose()

    assert response.status_code == 204
    [sent] = backend.writes
    assert sent.startswith(b"POST /in HTTP/1.1\r\n")
    assert sent.endswith(b"\r\n\r\n" + body.encode())

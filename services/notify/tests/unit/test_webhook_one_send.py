"""A webhook request leaves in one send: head and body together, not one system call each."""

import asyncio
from typing import Any

import pytest

from helpline_notify.adapters.webhook_http import WebhookHttp
from helpline_notify.adapters.webhooks import GuardedWebhookSender
from helpline_notify.domain.model import new_webhook_secret
from helpline_notify.service_layer.ports import WebhookRequest

NO_CONTENT = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"


class RecordingTransport(asyncio.Transport):
    """A connection that keeps every buffer written to it and answers the first with 204."""

    def __init__(self, protocol: asyncio.Protocol) -> None:
        super().__init__()
        self.protocol = protocol
        self.writes: list[bytes] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))
        if len(self.writes) == 1:
            asyncio.get_running_loop().call_soon(self.protocol.data_received, NO_CONTENT)

    def is_closing(self) -> bool:
        return self.closing

    def is_reading(self) -> bool:
        return True

    def close(self) -> None:
        self.closing = True


async def test_head_and_body_are_sent_together(monkeypatch: pytest.MonkeyPatch) -> None:
    transports: list[RecordingTransport] = []

    async def connect(
        factory: Any, *_where: object, **_options: object
    ) -> tuple[RecordingTransport, asyncio.Protocol]:
        protocol = factory()
        transport = RecordingTransport(protocol)
        protocol.connection_made(transport)
        transports.append(transport)
        return transport, protocol

    monkeypatch.setattr(asyncio.get_running_loop(), "create_connection", connect)
    sender = GuardedWebhookSender(WebhookHttp(allow_private_networks=True, timeout=5.0))
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
    [transport] = transports
    [sent] = transport.writes
    assert sent.startswith(b"POST /in HTTP/1.1\r\n")
    assert sent.endswith(b"\r\n\r\n" + body.encode())

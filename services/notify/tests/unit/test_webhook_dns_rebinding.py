"""A webhook connects to the address the destination guard checked, never to the host name
again: a name answering a public address to the check and a private one afterwards (DNS
rebinding) still reaches only the public one; TLS still verifies the host name."""

import asyncio
import socket
from typing import Any, NoReturn

import pytest
from test_webhook_sender import request_to

from helpline_notify.adapters.webhook_http import WebhookHttp
from helpline_notify.adapters.webhooks import GuardedWebhookSender
from helpline_notify.domain.errors import DeliveryAttemptFailed, DestinationRefused

PUBLIC, PRIVATE = "93.184.216.34", "127.0.0.1"


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_the_connection_goes_to_the_checked_address_not_to_a_rebound_name(
    scheme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    answers = iter([PUBLIC, PRIVATE, PRIVATE])
    lookups: list[str] = []
    connections: list[tuple[object, dict[str, object]]] = []

    async def rebinding(host: str, port: int, **_options: object) -> list[Any]:
        lookups.append(host)
        address = next(answers)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    async def refuse(_factory: object, host: object, _port: object, **options: object) -> NoReturn:
        connections.append((host, options))
        raise ConnectionRefusedError("recorded: no connections")

    monkeypatch.setattr(loop, "getaddrinfo", rebinding)
    monkeypatch.setattr(loop, "create_connection", refuse)
    sender = GuardedWebhookSender(WebhookHttp(allow_private_networks=False, timeout=5.0))

    with pytest.raises(DeliveryAttemptFailed):
        await sender.send(request_to(f"{scheme}://hooks.example.com/in"))

    assert lookups == ["hooks.example.com"], "the name is resolved once, by the guard"
    [(host, options)] = connections
    assert host == PUBLIC
    if scheme == "https":
        assert options["server_hostname"] == "hooks.example.com"
        assert options["ssl"] is not None

    with pytest.raises(DestinationRefused):  # the next attempt sees the rebound answer
        await sender.send(request_to(f"{scheme}://hooks.example.com/in"))
    assert len(connections) == 1

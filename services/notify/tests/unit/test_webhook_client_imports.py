"""A webhook request searches no directory for a module: a lazy import of a missing module
would be searched for along sys.path on every request."""

import asyncio
import contextlib
import importlib.machinery
from typing import Any

import pytest
from test_webhook_sender import request_to

from helpline_notify.adapters.webhook_http import WebhookHttp
from helpline_notify.adapters.webhooks import GuardedWebhookSender

NO_CONTENT = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


async def test_a_webhook_request_searches_no_directory_for_a_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError):  # the client closed
            while await reader.readuntil(b"\r\n\r\n"):
                await reader.read(65536)  # the body: it leaves with the head, in one write
                writer.write(NO_CONTENT)
                await writer.drain()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/in"
    sender = GuardedWebhookSender(WebhookHttp(allow_private_networks=True, timeout=5.0))
    try:
        first = await sender.send(request_to(url))  # lazy imports done
        searched: list[str] = []
        real_find_spec = importlib.machinery.PathFinder.find_spec

        def counted(name: str, *args: Any, **kwargs: Any) -> Any:
            searched.append(name)
            return real_find_spec(name, *args, **kwargs)

        monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec", counted)
        second = await sender.send(request_to(url))
    finally:
        await sender.aclose()
        server.close()

    assert (first.status_code, second.status_code) == (204, 204)
    assert searched == []

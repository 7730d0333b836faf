"""A webhook request searches no directory for a module: httpcore imports ``sniffio`` on every
request; a missing module would be searched for along sys.path each time (so it is installed)."""

import importlib.machinery
from typing import Any

import httpcore
import pytest

from helpline_notify.adapters.guarded_transport import webhook_client

NO_CONTENT = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


async def test_a_webhook_request_searches_no_directory_for_a_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backend = httpcore.AsyncMockBackend([NO_CONTENT, NO_CONTENT])
    async with webhook_client(
        allow_private_networks=True, timeout=5.0, inner_backend=backend
    ) as client:
        first = await client.post("http://127.0.0.1:9/in", content=b"{}")  # lazy imports done
        searched: list[str] = []
        real_find_spec = importlib.machinery.PathFinder.find_spec

        def counted(name: str, *args: Any, **kwargs: Any) -> Any:
            searched.append(name)
            return real_find_spec(name, *args, **kwargs)

        monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec", counted)
        second = await client.post("http://127.0.0.1:9/in", content=b"{}")

    assert (first.status_code, second.status_code) == (204, 204)
    assert searched == []

"""Services are served on uvloop with httptools, not asyncio's selector loop and h11."""

from pathlib import Path

import uvloop
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from helpline_shared.runtime.service import server_config
from helpline_shared.runtime.settings import ServiceSettings


def test_served_on_uvloop_with_httptools(tmp_path: Path) -> None:
    config = server_config(FastAPI(), ServiceSettings(data_dir=tmp_path), port=0)
    config.load()

    factory = config.get_loop_factory()
    assert factory is not None
    loop = factory()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
    assert config.http_protocol_class is HttpToolsProtocol
    assert config.host == "127.0.0.1"
    assert config.access_log is False

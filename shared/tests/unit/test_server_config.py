"""Services are served on uvloop with httptools, not asyncio's selector loop and h11."""

import asyncio
import gc
from pathlib import Path

import pytest
import uvicorn
import uvloop
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from helpline_shared.runtime import service
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


def test_the_heap_is_settled_once_the_server_has_started(monkeypatch: pytest.MonkeyPatch) -> None:
    settled: list[bool] = []
    monkeypatch.setattr(service, "settle_heap", lambda: settled.append(True))

    async def started(_self: uvicorn.Server, sockets: object = None) -> None:
        assert settled == []  # not before the application's start-up

    monkeypatch.setattr(uvicorn.Server, "startup", started)
    server = service._Server(uvicorn.Config(FastAPI()))
    asyncio.run(server.startup())
    assert settled == [True]


def test_settling_the_heap_freezes_what_lives_and_collects_young_objects_less_often() -> None:
    thresholds = gc.get_threshold()
    try:
        service.settle_heap()
        assert gc.get_freeze_count() > 1000
        assert gc.get_threshold() == service.GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_forwarded_headers_are_not_read_unless_proxies_are_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    config = server_config(FastAPI(), ServiceSettings(data_dir=tmp_path), port=0)

    assert config.proxy_headers is False


@pytest.mark.parametrize("by_uvicorns_variable", [False, True])
def test_configured_proxies_are_trusted_with_their_forwarded_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, by_uvicorns_variable: bool
) -> None:
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    if by_uvicorns_variable:  # as the Helm chart sets it
        monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.0/8")
        settings = ServiceSettings(data_dir=tmp_path)
    else:
        settings = ServiceSettings(data_dir=tmp_path, forwarded_allow_ips="10.0.0.0/8")
    config = server_config(FastAPI(), settings, port=0)

    assert config.proxy_headers is True
    assert config.forwarded_allow_ips == "10.0.0.0/8"

"""The HTTP edge every service shares, attacked: body limits, request ids, the catch-all 500.

Each service's real app in-process (``api_apps``); one test runs intake under uvicorn on a
loopback port, where a lying ``Content-Length`` would hold a connection open.
"""

import asyncio
import base64
import json
import logging
import socket
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from api_apps import KNOWN, NOT_SET, SEEDS, SERVICES, ServiceApp, build
from fastapi import APIRouter
from fuzzing import problem_errors

MB = 1024 * 1024
CHUNK = 64 * 1024


def client(service: ServiceApp) -> httpx.AsyncClient:
    """An in-process client of ``service``'s app."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=service.app), base_url="http://service"
    )


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    """``response`` is a ``status`` problem+json; its body."""
    assert response.status_code == status, response.text
    body = response.json()
    assert not problem_errors(status, response.headers["content-type"], body)
    assert isinstance(body, dict)
    return body


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[ServiceApp]:
    service = await asyncio.to_thread(build, "intake", tmp_path)
    yield service
    await service.runtime.engine.dispose()


class Body:
    """A chunked request body of ``total`` bytes that counts what the server pulled."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk = b"x" * CHUNK
        while self.sent < self.total:
            self.sent += len(chunk)
            yield chunk


async def test_a_50_mb_unauthenticated_chunked_post_is_a_413_read_no_further_than_the_limit(
    intake: ServiceApp,
) -> None:
    body = Body(50 * MB)
    tracemalloc.start()
    try:
        async with client(intake) as http:
            response = await http.post(
                "/v1/tickets", content=body, headers={"content-type": "application/json"}
            )
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_problem(response, 413)
    limit = intake.runtime.settings.http_max_body_bytes
    assert body.sent <= limit + CHUNK, f"read {body.sent} bytes of a body limited to {limit}"
    assert peak < 4 * MB, f"{peak} bytes allocated while refusing the body"


async def test_a_declared_length_above_the_limit_is_refused_without_reading_the_body(
    intake: ServiceApp,
) -> None:
    body = Body(50 * MB)
    async with client(intake) as http:
        response = await http.post(
            "/v1/tickets",
            content=body,
            headers={"content-type": "application/json", "content-length": str(50 * MB)},
        )
    assert (
        assert_problem(response, 413)["max_body_bytes"]
        == intake.runtime.settings.http_max_body_bytes
    )
    assert body.sent == 0


async def test_a_message_with_attachments_may_be_as_large_as_a_mail(intake: ServiceApp) -> None:
    limit = intake.runtime.settings.max_message_size
    async with client(intake) as http:
        declared = await http.post(
            "/v1/tickets/t1/messages",
            headers={"content-length": str(limit + 1), **intake.credentials("/v1/tickets")},
            content=b"{}",
        )
        # Above the default limit, under the route's own: read, and judged on its content.
        allowed = await http.post(
            "/v1/tickets/t1/messages",
            headers=intake.credentials("/v1/tickets"),
            content=Body(2 * MB),
        )
        openapi = (await http.get("/openapi.json")).json()
    assert_problem(declared, 413)
    assert_problem(allowed, 422)
    paths = openapi["paths"]
    assert paths["/v1/tickets/{ticket_id}/messages"]["post"]["x-max-body-bytes"] == limit
    assert (
        paths["/v1/tickets"]["post"]["x-max-body-bytes"]
        == intake.runtime.settings.http_max_body_bytes
    )


async def test_an_unreadable_content_length_is_a_400_problem(intake: ServiceApp) -> None:
    async with client(intake) as http:
        response = await http.post(
            "/v1/tickets", content=b"{}", headers={"content-length": "12abc"}
        )
    assert assert_problem(response, 400)["field"] == "Content-Length"


def test_a_lying_content_length_gets_its_413_at_once_instead_of_a_held_connection(
    intake: ServiceApp,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(intake.app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            connection.sendall(
                b"POST /v1/tickets HTTP/1.1\r\nHost: intake\r\n"
                b"Content-Type: application/json\r\n"
                b"Content-Length: 50000000000\r\n\r\n{}"
            )
            started = time.monotonic()
            answer = connection.recv(4096)
            waited = time.monotonic() - started
    finally:
        server.should_exit = True
        thread.join(10)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"application/problem+json" in answer
    assert waited < 2


@pytest.mark.parametrize("service", SERVICES)
async def test_every_response_has_a_request_id_and_a_valid_incoming_one_is_kept(
    service: str, tmp_path: Path
) -> None:
    built = await asyncio.to_thread(build, service, tmp_path)
    try:
        async with client(built) as http:
            fresh = await http.get("/healthz")
            kept = await http.get("/healthz", headers={"x-request-id": "probe-42.a"})
            replaced = await http.get("/healthz", headers={"x-request-id": "bad id\u00e9".encode()})
            refused = await http.get("/openapi.json", headers={"x-request-id": "x" * 500})
    finally:
        await built.runtime.engine.dispose()
    assert len(fresh.headers["x-request-id"]) == 32
    assert kept.headers["x-request-id"] == "probe-42.a"
    assert len(replaced.headers["x-request-id"]) == 32
    assert len(refused.headers["x-request-id"]) == 32


class Records(logging.Handler):
    """Keeps the records it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_an_unexpected_error_is_a_500_problem_with_the_request_id_and_no_traceback(
    tmp_path: Path,
) -> None:
    broken = APIRouter()

    @broken.get("/v1/broken")
    async def fail() -> None:
        raise RuntimeError("secret internals at /srv/helpline")

    service = await asyncio.to_thread(build, "routing", tmp_path)
    service.app.include_router(broken)
    logged = Records()
    logging.getLogger("helpline_shared.runtime.edge").addHandler(logged)
    try:
        async with client(service) as http:
            response = await http.get("/v1/broken", headers={"x-request-id": "req-1"})
    finally:
        logging.getLogger("helpline_shared.runtime.edge").removeHandler(logged)
        await service.runtime.engine.dispose()
    body = assert_problem(response, 500)
    assert body["request_id"] == "req-1" == response.headers["x-request-id"]
    assert "secret internals" not in response.text and "Traceback" not in response.text
    [record] = logged.records
    assert getattr(record, "request_id", None) == "req-1" and record.exc_info is not None


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize(
    "authorization",
    [
        b"Bearer hl_\xe9\xff.\xfe",
        b"Bearer \xc3\xa9",
        b"Bearer hl_abc.d\x80ef",
        b"Bearer\xa0x",
        b"bearer  hl_.",
        b"Bearer " + b"a" * 8000,
        b"Bearer hlk_\xe9\xff",
        b"Bearer hlk_",
        b"Bearer hlk_" + b"a" * 8000,
        b"Bearer eyJ.\x80.x",
        b"Bearer e30.e30.",
    ],
)
async def test_a_malformed_bearer_credential_is_a_401_problem_on_every_secured_route(
    service: str, authorization: bytes, tmp_path: Path
) -> None:
    built = await asyncio.to_thread(build, service, tmp_path)
    failures: list[str] = []
    try:
        async with client(built) as http:
            openapi = (await http.get("/openapi.json")).json()
            for path, operations in openapi["paths"].items():
                for method, operation in operations.items():
                    if not built.secured(method, path, operation):
                        continue
                    concrete = "/".join(
                        "x" if part.startswith("{") else part for part in path.split("/")
                    )
                    response = await http.request(
                        method, concrete, json={}, headers={"authorization": authorization}
                    )
                    body = response.json()
                    if response.status_code != 401 or problem_errors(
                        401, response.headers["content-type"], body
                    ):
                        failures.append(
                            f"{method.upper()} {path}: {response.status_code} {response.text[:200]}"
                        )
    finally:
        await built.runtime.engine.dispose()
    assert not failures, "\n".join(failures)


def _cursor(document: str | bytes) -> str:
    raw = document.encode() if isinstance(document, str) else document
    return base64.urlsafe_b64encode(raw).decode()


TAMPERED_CURSORS = [
    _cursor('["2026-01-01T00:00:00", "x"]'),  # no zone
    _cursor('["9999-12-31T23:59:59-14:00", "x"]'),  # past the end of time in UTC
    _cursor('["0001-01-01T00:00:00+14:00", "x"]'),  # before its beginning
    _cursor('{"a": 1, "b": 2}'),
    _cursor("[1, 2]"),
    _cursor(b"\xff\xfe"),
    "%%%",
    "e30",
]
BAD_INSTANTS = ["2026-01-01T00:00:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+01:00"]


def assert_names_field(response: httpx.Response, field: str) -> None:
    """``response`` is a 422 problem whose errors name ``field``."""
    body = assert_problem(response, 422)
    errors = body.get("errors")
    assert isinstance(errors, list)
    assert [error["field"] for error in errors] == [field], body


@pytest.mark.parametrize(
    ("service", "path"), [("intake", "/v1/tickets"), ("notify", "/v1/deliveries")]
)
async def test_a_tampered_cursor_is_a_422_problem_naming_the_cursor(
    service: str, path: str, tmp_path: Path
) -> None:
    built = await asyncio.to_thread(build, service, tmp_path)
    try:
        async with client(built) as http:
            for cursor in TAMPERED_CURSORS:
                response = await http.get(
                    path, params={"cursor": cursor}, headers=built.credentials(path)
                )
                assert_names_field(response, "cursor")
    finally:
        await built.runtime.engine.dispose()


@pytest.mark.parametrize(
    "name", ["created_after", "created_before", "updated_after", "updated_before"]
)
async def test_a_ticket_filter_instant_without_zone_or_out_of_range_is_a_422_naming_it(
    intake: ServiceApp, name: str
) -> None:
    async with client(intake) as http:
        for value in BAD_INSTANTS:
            response = await http.get(
                "/v1/tickets", params={name: value}, headers=intake.credentials("/v1/tickets")
            )
            assert_names_field(response, name)
        fine = await http.get(
            "/v1/tickets",
            params={name: "2026-01-01T00:00:00+02:00"},
            headers=intake.credentials("/v1/tickets"),
        )
    assert fine.status_code == 200


async def test_a_replay_since_without_zone_is_a_422_naming_it(tmp_path: Path) -> None:
    built = await asyncio.to_thread(build, "notify", tmp_path)
    try:
        async with client(built) as http:
            for value in BAD_INSTANTS:
                response = await http.post(
                    "/v1/webhook-endpoints/x/replay",
                    json={"since": value},
                    headers=built.credentials("/v1/webhook-endpoints"),
                )
                assert_names_field(response, "since")
    finally:
        await built.runtime.engine.dispose()


def _appending(value: Any, suffix: str) -> Any:
    if isinstance(value, dict):
        return {key: _appending(item, suffix) for key, item in value.items()}
    if isinstance(value, list):
        return [_appending(item, suffix) for item in value]
    return value + suffix if isinstance(value, str) else value


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("suffix", ["\ud800", "\x00"], ids=["lone surrogate", "NUL"])
async def test_lone_surrogates_and_nul_in_json_bodies_are_4xx_problems(
    service: str, suffix: str, tmp_path: Path
) -> None:
    # JSON escapes carry characters PostgreSQL text refuses (NUL) or no UTF-8 encoder accepts;
    # on PostgreSQL, NUL in a ticket's requester name, a requester, a suppression reason or a
    # template was a 500.
    built = await asyncio.to_thread(build, service, tmp_path)
    known = {**KNOWN.get(service, {}), "ticket_id": "t1", "domain_id": "d1"}
    try:
        async with client(built) as http:
            for seed in SEEDS[service]:
                if seed.body is NOT_SET:
                    continue  # a request without a body has no string to append to
                path = seed.path.format(**known)
                body = json.dumps(_appending(seed.body, suffix)).encode()
                response = await http.request(
                    seed.method,
                    path,
                    content=body,
                    headers={**built.credentials(path), "content-type": "application/json"},
                )
                assert 400 <= response.status_code < 500, (path, response.text)
                assert not problem_errors(
                    response.status_code, response.headers["content-type"], response.json()
                )
    finally:
        await built.runtime.engine.dispose()


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        (
            "PUT",
            "/v1/templates/helpline.ticket.created.v1/en",
            {"subject": "s\x00", "text": "t"},
            "subject",
        ),
        ("POST", "/v1/suppressions", {"address": "g@acme.example", "reason": "r\x00"}, "reason"),
    ],
)
async def test_a_nul_anywhere_in_a_json_body_is_a_422_naming_the_field(
    method: str, path: str, body: dict[str, str], field: str, tmp_path: Path
) -> None:
    built = await asyncio.to_thread(build, "notify", tmp_path)
    try:
        async with client(built) as http:
            response = await http.request(method, path, json=body, headers=built.credentials(path))
    finally:
        await built.runtime.engine.dispose()
    assert assert_problem(response, 422)["field"] == field


@pytest.mark.parametrize(
    ("service", "url"),
    [
        ("intake", "/v1/tickets/t%001"),
        ("intake", "/v1/tickets?requester=a%00b"),
        ("routing", "/v1/agents/%00"),
        ("escalation", "/v1/tickets/%00/sla"),
        ("notify", "/v1/deliveries?ticket_id=%00"),
    ],
)
async def test_a_nul_in_the_url_is_a_400_problem_before_any_query(
    service: str, url: str, tmp_path: Path
) -> None:
    # PostgreSQL refuses NUL in text: on the database this was a 500.
    built = await asyncio.to_thread(build, service, tmp_path)
    try:
        async with client(built) as http:
            response = await http.get(url, headers=built.credentials(url))
    finally:
        await built.runtime.engine.dispose()
    assert assert_problem(response, 400)["field"] == "url"


async def test_a_422_raised_by_a_route_has_a_proper_title(tmp_path: Path) -> None:
    built = await asyncio.to_thread(build, "notify", tmp_path)
    try:
        async with client(built) as http:
            response = await http.post(
                "/v1/subscriptions",
                headers=built.credentials("/v1/subscriptions"),
                json={"event_types": ["helpline.nothing.*"], "roles": ["assignee"]},
            )
    finally:
        await built.runtime.engine.dispose()
    assert assert_problem(response, 422)["title"] == "Invalid request"

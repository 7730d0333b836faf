"""The audit trail of the shared runtime: writes, denials and refused credentials reach the outbox.

An in-process app on SQLite with the stand-in identity; the records are read from the outbox
(what the relay publishes on helpline.audit).
"""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from prometheus_client import REGISTRY
from sqlalchemy import MetaData

from helpline_shared.events import AuditRecorded
from helpline_shared.runtime.auth import (
    PERMISSION_EXTENSION,
    Operation,
    Principal,
    operations,
    require,
    unlisted_operations,
)
from helpline_shared.runtime.service import ServiceRuntime
from helpline_shared.runtime.settings import ServiceSettings
from helpline_shared.runtime.testing import outbox_events, stand_in_identity

IDENTITY = stand_in_identity()


def things() -> APIRouter:
    router = APIRouter()

    @router.post("/v1/things/{thing_id}", status_code=201)
    async def change(
        thing_id: str, principal: Principal = require("tickets.update")
    ) -> dict[str, str]:
        """Change a thing."""
        if thing_id == "missing":
            raise HTTPException(404, "no such thing")
        return {"id": thing_id, "by": principal.actor}

    @router.get("/v1/things/{thing_id}")
    async def read(
        thing_id: str, _principal: Principal = require("tickets.read")
    ) -> dict[str, str]:
        """Read a thing."""
        return {"id": thing_id}

    @router.delete("/v1/users/{user_id}", status_code=204)
    async def remove(user_id: str, _principal: Principal = require("users.manage")) -> None:
        """Remove someone (admins only)."""

    return router


class Audited:
    """An app of the shared runtime and the audit records it has put in its outbox."""

    def __init__(self, runtime: ServiceRuntime, app: FastAPI, metadata: MetaData) -> None:
        self.runtime, self.app, self.metadata = runtime, app, metadata

    def client(self, bearer: str | None = None) -> httpx.AsyncClient:
        headers = {"authorization": f"Bearer {bearer}"} if bearer else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://svc", headers=headers
        )

    async def records(self) -> list[AuditRecorded]:
        found = [e.event for e in await outbox_events(self.runtime.engine, self.metadata)]
        assert all(isinstance(event, AuditRecorded) for event in found)
        return found  # type: ignore[return-value]


async def build(tmp_path: Path, *, audit: bool = True) -> Audited:
    metadata = MetaData()
    runtime = ServiceRuntime(
        name="audit-test",
        metadata=metadata,
        settings=ServiceSettings(data_dir=tmp_path, **IDENTITY.settings()),
    )
    async with runtime.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    return Audited(runtime, runtime.http_app("audit test", [things()], audit=audit), metadata)


@pytest.fixture
async def audited(tmp_path: Path) -> AsyncIterator[Audited]:
    made = await build(tmp_path)
    yield made
    await made.runtime.engine.dispose()


async def test_a_write_is_recorded_with_actor_action_target_request_id_and_source(
    audited: Audited,
) -> None:
    token = IDENTITY.person("acme", "agent", user_id="u-ann")
    async with audited.client(token) as client:
        answer = await client.post("/v1/things/T-1", headers={"x-request-id": "req-7"})
    assert answer.status_code == 201
    [record] = await audited.records()
    assert (
        record.tenant_id,
        record.service,
        record.actor,
        record.action,
        record.target,
        record.outcome,
        record.request_id,
        record.source,
    ) == (
        "acme",
        "audit-test",
        "user:u-ann",
        "tickets.update",
        "/v1/things/T-1",
        "ok",
        "req-7",
        "127.0.0.1",
    )
    assert record.detail == {"method": "POST", "status": "201", "route": "/v1/things/{thing_id}"}


async def test_reads_and_failed_writes_are_not_recorded(audited: Audited) -> None:
    async with audited.client(
        IDENTITY.api_key("acme", ["tickets:read", "tickets:write"])
    ) as client:
        assert (await client.get("/v1/things/T-1")).status_code == 200
        assert (await client.post("/v1/things/missing")).status_code == 404
        assert (await client.get("/healthz")).status_code == 200
    assert await audited.records() == []


async def test_a_denial_is_recorded_with_the_callers_actor(audited: Audited) -> None:
    async with audited.client(IDENTITY.api_key("acme", ["tickets:read"])) as client:
        assert (await client.post("/v1/things/T-1")).status_code == 403
    async with audited.client(IDENTITY.person("acme", "lead", user_id="u-lee")) as client:
        assert (await client.delete("/v1/users/u-ann")).status_code == 403
    key_denial, lead_denial = await audited.records()
    assert key_denial.actor.startswith("api_key:")
    assert (key_denial.action, key_denial.outcome, key_denial.tenant_id) == (
        "tickets.update",
        "denied",
        "acme",
    )
    assert (lead_denial.actor, lead_denial.action, lead_denial.target, lead_denial.outcome) == (
        "user:u-lee",
        "users.manage",
        "/v1/users/u-ann",
        "denied",
    )


async def test_a_call_without_credential_is_recorded_as_anonymous_with_its_source(
    audited: Audited,
) -> None:
    async with audited.client() as client:
        assert (await client.get("/v1/things/T-1")).status_code == 401
    async with audited.client("not-a-token") as client:
        assert (await client.post("/v1/things/T-1")).status_code == 401
    first, second = await audited.records()
    for record in (first, second):
        assert (record.actor, record.tenant_id, record.outcome, record.source) == (
            "anonymous",
            "-",
            "failed",
            "127.0.0.1",
        )
    assert (first.action, second.action) == ("tickets.read", "tickets.update")


async def test_a_revoked_key_is_recorded_under_its_own_name_and_tenant(audited: Audited) -> None:
    key = IDENTITY.api_key("globex", ["tickets:write"])
    async with audited.client(key) as client:
        assert (await client.post("/v1/things/T-1")).status_code == 201
        IDENTITY.revoke(key)
        audited.runtime.verifier.clock = lambda: float("inf")  # caches are stale at once
        assert (await client.post("/v1/things/T-1")).status_code == 401
    done, refused = await audited.records()
    assert (refused.actor, refused.tenant_id, refused.outcome) == (done.actor, "globex", "failed")


async def test_a_service_that_audits_itself_records_nothing_here(tmp_path: Path) -> None:
    made = await build(tmp_path, audit=False)
    try:
        async with made.client(IDENTITY.person("acme", "admin")) as client:
            assert (await client.post("/v1/things/T-1")).status_code == 201
        assert await made.records() == []
    finally:
        await made.runtime.engine.dispose()


async def test_each_operation_states_its_permission(audited: Audited) -> None:
    document = audited.app.openapi()
    operation = document["paths"]["/v1/things/{thing_id}"]["post"]
    assert operation[PERMISSION_EXTENSION] == "tickets.update"
    assert "Requires permission `tickets.update`" in operation["description"]
    assert "Public" in document["paths"]["/healthz"]["get"]["description"]
    assert (
        audited.app.openapi()["paths"]["/v1/things/{thing_id}"]["post"]["description"].count(
            "Requires permission"
        )
        == 1
    )
    assert Operation("GET", "/v1/things/{thing_id}", "tickets.read") in operations(audited.app)
    assert unlisted_operations(audited.app) == []


async def test_a_route_without_permission_nor_listing_is_found(audited: Audited) -> None:
    @audited.app.get("/v1/forgotten")
    async def forgotten() -> None:
        """A route someone forgot to protect."""

    assert unlisted_operations(audited.app) == [Operation("GET", "/v1/forgotten", None)]


async def test_an_audit_store_failure_is_logged_and_the_answer_stands(
    audited: Audited, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(_event: AuditRecorded) -> None:
        raise OSError("disk full")

    lost = (
        REGISTRY.get_sample_value("helpline_audit_records_lost_total", {"service": "audit-test"})
        or 0
    )
    audited.runtime.record_audit = broken  # type: ignore[method-assign]
    app = audited.runtime.http_app("audit test", [things()])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://svc",
        headers={"authorization": "Bearer " + IDENTITY.person("acme", "admin")},
    ) as client:
        assert (await client.post("/v1/things/T-2")).status_code == 201
    assert "an audit record could not be stored" in caplog.text
    assert (
        REGISTRY.get_sample_value("helpline_audit_records_lost_total", {"service": "audit-test"})
        == lost + 1
    )

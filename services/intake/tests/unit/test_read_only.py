"""What only reads does not queue on SQLite's writer lock: lists, pages and lookups over HTTP."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from helpline_intake.adapters.attachments import MemoryAttachmentStore
from helpline_intake.bootstrap import MIGRATIONS, bootstrap
from helpline_intake.config import IntakeSettings
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.service import ServiceRuntime
from helpline_shared.runtime.testing import StatementLog, stand_in_identity

IDENTITY = stand_in_identity()


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, ServiceRuntime]]:
    settings = IntakeSettings(
        data_dir=tmp_path,
        **IDENTITY.settings(),
        smtp_server_enabled=False,
        domain_verification="trust",
    )
    await asyncio.to_thread(upgrade, MIGRATIONS, settings.resolved_database_url("intake"))
    app, runtime = bootstrap(settings, MemoryAttachmentStore())
    key = IDENTITY.api_key("acme", ["tickets:read", "tickets:write", "admin"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://intake",
        headers={"authorization": f"Bearer {key}"},
    ) as client:
        yield client, runtime
    await runtime.engine.dispose()


async def test_reads_take_no_write_lock_and_writes_still_do(
    intake: tuple[httpx.AsyncClient, ServiceRuntime],
) -> None:
    client, runtime = intake
    created = await client.post(
        "/v1/tickets",
        json={
            "subject": "Export fails",
            "description": "since 4.2",
            "requester": {"email": "cy@customer.example"},
            "priority": "high",
            "type": "corrective",
        },
    )
    assert created.status_code == 201, created.text
    ticket = created.json()["id"]
    log = StatementLog(runtime.engine)
    for path in (
        "/v1/tickets",
        f"/v1/tickets/{ticket}",
        f"/v1/tickets/{ticket}/messages",
        "/v1/organizations",
        "/v1/requesters",
        "/v1/domains",
        "/v1/mailboxes",
        "/v1/quarantine",
        "/v1/tickets/missing",
    ):
        answer = await client.get(path)
        assert answer.status_code in (200, 404), (path, answer.text)
    assert log.count("BEGIN") > 0
    assert log.count("BEGIN IMMEDIATE") == 0

    replied = await client.post(f"/v1/tickets/{ticket}/messages", json={"body": "More."})
    assert replied.status_code == 201, replied.text
    # The reply's own transaction and the audit record's: the existence check before it reads.
    assert log.count("BEGIN IMMEDIATE") == 2

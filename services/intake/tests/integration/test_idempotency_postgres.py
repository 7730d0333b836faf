"""Idempotency-Key on PostgreSQL: twins sent at once create one ticket; all get its answer."""

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from helpline_devstack.postgres import PostgresServer
from helpline_devstack.testing import unique_name
from helpline_intake.adapters.attachments import MemoryAttachmentStore
from helpline_intake.adapters.orm import tickets
from helpline_intake.bootstrap import MIGRATIONS, bootstrap
from helpline_intake.config import IntakeSettings
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.testing import stand_in_identity

pytestmark = pytest.mark.integration
IDENTITY = stand_in_identity()


async def test_twins_with_one_key_create_one_ticket(
    postgres: PostgresServer, tmp_path: Any
) -> None:
    url = postgres.create_database(unique_name("intake"))
    settings = IntakeSettings(
        data_dir=tmp_path, database_url=url, **IDENTITY.settings(), smtp_server_enabled=False
    )
    await asyncio.to_thread(upgrade, MIGRATIONS, url)
    app, runtime = bootstrap(settings, MemoryAttachmentStore())
    key = IDENTITY.api_key("acme", ["tickets:read", "tickets:write"])
    body = {
        "subject": "Export fails",
        "description": "since 4.2",
        "requester": {"email": "a@b.example"},
    }
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://intake",
            headers={"authorization": f"Bearer {key}", "Idempotency-Key": "twin"},
        ) as http:
            answers = await asyncio.gather(*(http.post("/v1/tickets", json=body) for _ in range(4)))
            again = await http.post("/v1/tickets", json=body)
        async with runtime.engine.connect() as connection:
            count = await connection.scalar(select(func.count()).select_from(tickets))
    finally:
        await runtime.engine.dispose()
    assert runtime.engine.dialect.name == "postgresql" and count == 1
    assert sorted(answer.status_code for answer in answers) == [200, 200, 200, 201]
    assert {answer.json()["id"] for answer in [*answers, again]} == {answers[0].json()["id"]}

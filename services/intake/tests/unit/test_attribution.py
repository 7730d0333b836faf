"""Intake's routes check the permission matrix, and every message, status change and merge is
attributed to the verified credential, never to what a body says (issue 12, points 3 and 4)."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpline_intake.adapters.attachments import MemoryAttachmentStore
from helpline_intake.adapters.orm import metadata
from helpline_intake.bootstrap import MIGRATIONS, bootstrap
from helpline_intake.config import IntakeSettings
from helpline_shared.events import (
    AuditRecorded,
    Event,
    MessageAdded,
    TicketCreated,
    TicketMerged,
    TicketStatusChanged,
)
from helpline_shared.runtime.auth import TENANT_HEADER
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.service import ServiceRuntime
from helpline_shared.runtime.testing import outbox_events, stand_in_identity

IDENTITY = stand_in_identity()
AGENT = uuid.uuid4().hex
TICKET = {
    "subject": "Export fails",
    "description": "since 4.2",
    "requester": {"email": "cy@customer.example"},
}


@dataclass
class Intake:
    app: Any
    runtime: ServiceRuntime

    def client(self, bearer: str, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://intake",
            headers={"authorization": f"Bearer {bearer}", **(headers or {})},
        )

    async def events(self) -> list[Event]:
        return [envelope.event for envelope in await outbox_events(self.runtime.engine, metadata)]


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[Intake]:
    settings = IntakeSettings.model_validate(
        {
            "data_dir": tmp_path,
            **IDENTITY.settings(),
            "smtp_server_enabled": False,
            "domain_verification": "trust",
        }
    )
    await asyncio.to_thread(upgrade, MIGRATIONS, settings.resolved_database_url("intake"))
    app, runtime = bootstrap(settings, MemoryAttachmentStore())
    yield Intake(app, runtime)
    await runtime.engine.dispose()


def agent() -> str:
    return IDENTITY.person("acme", "agent", user_id=AGENT)


async def ticket_id(intake: Intake) -> str:
    async with intake.client(IDENTITY.api_key("acme", ["tickets:write"])) as client:
        created = await client.post("/v1/tickets", json=TICKET)
    assert created.status_code == 201, created.text
    found: str = created.json()["id"]
    return found


@pytest.mark.parametrize("field", ["author_role", "author_id"])
async def test_an_agent_naming_an_author_is_refused_with_a_problem_naming_the_field(
    intake: Intake, field: str
) -> None:
    ticket = await ticket_id(intake)
    value = {"author_role": "requester", "author_id": "someone-else"}[field]
    async with intake.client(agent()) as client:
        refused = await client.post(
            f"/v1/tickets/{ticket}/messages", json={"body": "I am someone else", field: value}
        )
        messages = (await client.get(f"/v1/tickets/{ticket}/messages")).json()
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert field in refused.json()["detail"]
    assert [item["author_role"] for item in messages] == []


async def test_an_agents_message_is_theirs_as_the_token_says(intake: Intake) -> None:
    ticket = await ticket_id(intake)
    async with intake.client(agent()) as client:
        posted = await client.post(
            f"/v1/tickets/{ticket}/messages", json={"body": "Fixed in 4.3", "public": True}
        )
    assert posted.status_code == 201, posted.text
    assert (posted.json()["author_role"], posted.json()["author_id"]) == ("agent", AGENT)
    added = [event for event in await intake.events() if isinstance(event, MessageAdded)]
    assert (added[-1].author_role, added[-1].author_id) == ("agent", AGENT)
    assert added[-1].actor is not None
    assert (added[-1].actor.type, added[-1].actor.id) == ("user", AGENT)


async def test_an_integration_key_writes_as_an_agent_and_only_an_import_names_authors(
    intake: Intake,
) -> None:
    ticket = await ticket_id(intake)
    bound = uuid.uuid4().hex
    async with intake.client(IDENTITY.api_key("acme", ["tickets:write"], user_id=bound)) as client:
        own = await client.post(f"/v1/tickets/{ticket}/messages", json={"body": "From CRM"})
        named = await client.post(
            f"/v1/tickets/{ticket}/messages", json={"body": "From CRM", "author_id": "x"}
        )
    async with intake.client(
        IDENTITY.api_key("acme", ["tickets:write", "tickets:import"])
    ) as client:
        imported = await client.post(
            f"/v1/tickets/{ticket}/messages",
            json={"body": "Old mail of the customer", "author_role": "requester"},
        )
    assert (own.json()["author_role"], own.json()["author_id"]) == ("agent", bound)
    assert named.status_code == 422 and "author_id" in named.json()["detail"]
    assert imported.status_code == 201, imported.text
    assert (imported.json()["author_role"], imported.json()["author_id"]) == ("requester", None)
    events = await intake.events()
    # Every write is audited too (the runtime's audit trail); the import has its own record.
    audits = [
        event
        for event in events
        if isinstance(event, AuditRecorded) and event.action == "ticket.message.import"
    ]
    assert [(item.action, item.target, item.detail["author_role"]) for item in audits] == [
        ("ticket.message.import", f"ticket:{ticket}", "requester")
    ]
    assert audits[0].actor.startswith("api_key:") and audits[0].service == "intake"
    actors = [event.actor for event in events if isinstance(event, MessageAdded)]
    assert [actor.type if actor else None for actor in actors] == ["integration"] * 2


async def test_status_changes_and_merges_carry_the_person_who_made_them(intake: Intake) -> None:
    first, second = await ticket_id(intake), await ticket_id(intake)
    async with intake.client(agent()) as client:
        solved = await client.patch(f"/v1/tickets/{first}", json={"status": "solved"})
        merged = await client.post(f"/v1/tickets/{second}/merge", json={"into_ticket_id": first})
    assert solved.status_code == 200 and merged.status_code == 200
    events = await intake.events()
    caused = [event for event in events if isinstance(event, TicketStatusChanged | TicketMerged)]
    assert caused and all(
        event.actor is not None and event.actor.type == "user" and event.actor.id == AGENT
        for event in caused
    )
    note = [event for event in events if isinstance(event, MessageAdded)][-1]
    assert note.author_role == "system" and note.actor is not None
    assert note.actor.id == AGENT


async def test_the_escalation_service_opens_tickets_for_the_tenant_it_names(intake: Intake) -> None:
    key = IDENTITY.service_key("escalation", ["tickets:write"])
    async with intake.client(key, {TENANT_HEADER: "acme"}) as client:
        opened = await client.post("/v1/tickets", json=TICKET)
    async with intake.client(key) as client:
        unnamed = await client.post("/v1/tickets", json=TICKET)
    assert opened.status_code == 201, opened.text
    assert unnamed.status_code == 403
    created = [event for event in await intake.events() if isinstance(event, TicketCreated)]
    assert created[-1].tenant_id == "acme" and created[-1].actor is not None
    assert created[-1].actor.type == "service"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/domains", {"name": "acme.test"}),
        ("GET", "/v1/domains", None),
        ("POST", "/v1/mailboxes", {"address": "support@acme.test"}),
        ("GET", "/v1/mailboxes", None),
        ("GET", "/v1/quarantine", None),
    ],
)
async def test_an_agent_may_not_manage_mail(
    intake: Intake, method: str, path: str, body: dict[str, Any] | None
) -> None:
    async with intake.client(agent()) as client:
        response = await client.request(method, path, json=body)
    assert response.status_code == 403
    assert "mail.manage" in response.json()["detail"]


async def test_each_role_and_scope_gets_what_the_matrix_grants(intake: Intake) -> None:
    ticket = await ticket_id(intake)
    reader = IDENTITY.api_key("acme", ["tickets:read"])
    async with intake.client(reader) as client:
        read = await client.get(f"/v1/tickets/{ticket}")
        listed = await client.get("/v1/requesters")
        create = await client.post("/v1/tickets", json=TICKET)
        reply = await client.post(f"/v1/tickets/{ticket}/messages", json={"body": "hi"})
        patch = await client.patch(f"/v1/tickets/{ticket}", json={"priority": "high"})
        requester = await client.post("/v1/requesters", json={"email": "d@customer.example"})
    assert (read.status_code, listed.status_code) == (200, 200)
    assert [item.status_code for item in (create, reply, patch, requester)] == [403] * 4
    assert "tickets.create" in create.json()["detail"]
    async with intake.client(agent()) as client:
        directory = await client.post("/v1/requesters", json={"email": "e@customer.example"})
    async with intake.client(IDENTITY.person("acme", "admin")) as client:
        domains = await client.get("/v1/domains")
    assert directory.status_code == 201 and domains.status_code == 200

"""``POST /v1/tickets`` is one transaction of few statements: the requester stored unless known,
with the organisation claiming its domain, in one INSERT, the audit record committed with the
ticket; and the organisation claiming a domain is found by index, as organisations change."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from helpline_intake.adapters.attachments import MemoryAttachmentStore
from helpline_intake.adapters.orm import metadata
from helpline_intake.bootstrap import MIGRATIONS, bootstrap
from helpline_intake.config import IntakeSettings
from helpline_intake.service_layer import requesters
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared.events import AuditRecorded, TicketCreated
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.service import ServiceRuntime
from helpline_shared.runtime.testing import StatementLog, outbox_events, stand_in_identity

IDENTITY = stand_in_identity()
TICKET = {
    "subject": "Export fails",
    "description": "since 4.2",
    "priority": "high",
    "type": "corrective",
    "tags": ["exports"],
}


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Any, ServiceRuntime]]:
    settings = IntakeSettings(data_dir=tmp_path, **IDENTITY.settings(), smtp_server_enabled=False)
    await asyncio.to_thread(upgrade, MIGRATIONS, settings.resolved_database_url("intake"))
    app, runtime = bootstrap(settings, MemoryAttachmentStore())
    yield app, runtime
    await runtime.engine.dispose()


def client(app: Any) -> httpx.AsyncClient:
    key = IDENTITY.api_key("acme", ["tickets:read", "tickets:write", "admin"])
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://intake",
        headers={"authorization": f"Bearer {key}"},
    )


async def test_a_post_is_one_transaction_with_its_audit_record_and_no_select(
    served: tuple[Any, ServiceRuntime],
) -> None:
    app, runtime = served
    async with client(app) as http:
        organization = await http.post(
            "/v1/organizations",
            json={"name": "Customer Inc", "plan": "enterprise", "domains": ["Customer.example"]},
        )
        assert organization.status_code == 201, organization.text
        log = StatementLog(runtime.engine)
        kinds = []
        for email in ("new@customer.example", "new@customer.example"):
            log.clear()
            answer = await http.post("/v1/tickets", json={**TICKET, "requester": {"email": email}})
            assert answer.status_code == 201, answer.text
            kinds.append([statement.split()[0].upper() for statement in log.statements])
    # New or returning requester: one INSERT stores it unless known and returns its domain's
    # organisation and plan (no SELECT first), then the ticket and the outbox rows (the
    # ticket's event and the audit record).
    assert kinds == [["BEGIN", "INSERT", "INSERT", "INSERT", "COMMIT"]] * 2
    events = [envelope.event for envelope in await outbox_events(runtime.engine, metadata)]
    created = [event for event in events if isinstance(event, TicketCreated)]
    audits = [event for event in events if isinstance(event, AuditRecorded)]
    assert [event.organization_id for event in created] == [organization.json()["id"]] * 2
    assert [event.plan for event in created] == ["enterprise"] * 2
    tickets = [audit for audit in audits if audit.detail.get("route") == "/v1/tickets"]
    assert [(a.outcome, a.action, a.detail["status"]) for a in tickets] == [
        ("ok", "tickets.create", "201")
    ] * 2


async def test_the_organisation_claiming_a_domain_is_found_by_index_as_claims_change(
    served: tuple[Any, ServiceRuntime],
) -> None:
    _app, runtime = served

    def unit_of_work() -> IntakeUnitOfWork:
        return runtime.unit_of_work(IntakeUnitOfWork)

    for number in range(50):
        await requesters.save_organization(
            requesters.SaveOrganization("acme", f"Org {number}", "basic", [f"o{number}.example"]),
            unit_of_work(),
        )
    moved = await requesters.save_organization(
        requesters.SaveOrganization("acme", "Moving", "premium", ["Old.example"]), unit_of_work()
    )
    other = await requesters.save_organization(
        requesters.SaveOrganization("globex", "Elsewhere", "basic", ["new.example"]),
        unit_of_work(),
    )
    log = StatementLog(runtime.engine)
    async with unit_of_work().read_only() as uow:
        found = await uow.directory.organization_for_domain("acme", "OLD.example")
    assert found is not None and found.id == moved.id
    assert log.count("SELECT") == 1
    await requesters.save_organization(
        requesters.SaveOrganization(
            "acme", "Moving", "premium", ["new.example"], organization_id=moved.id
        ),
        unit_of_work(),
    )
    async with unit_of_work().read_only() as uow:
        assert await uow.directory.organization_for_domain("acme", "old.example") is None
        now = await uow.directory.organization_for_domain("acme", "new.example")
        assert now is not None and now.id == moved.id
        theirs = await uow.directory.organization_for_domain("globex", "new.example")
        assert theirs is not None and theirs.id == other.id


def test_migration_0008_indexes_the_domains_organisations_already_claim(tmp_path: Path) -> None:
    path = tmp_path / "intake.db"
    upgrade(MIGRATIONS, f"sqlite+aiosqlite:///{path}", "0007")
    engine = sa.create_engine(f"sqlite:///{path}")
    now = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO organizations (id, tenant_id, name, plan, domains, created_at) "
                "VALUES ('o1', 'acme', 'Customer', 'premium', "
                '\'["Customer.example", "cust.example"]\', :now)'
            ),
            {"now": now},
        )
    upgrade(MIGRATIONS, f"sqlite+aiosqlite:///{path}")
    with engine.connect() as connection:
        claims = connection.execute(
            sa.text("SELECT tenant_id, domain, organization_id FROM organization_domains")
        ).all()
    engine.dispose()
    assert sorted(claims) == [
        ("acme", "cust.example", "o1"),
        ("acme", "customer.example", "o1"),
    ]

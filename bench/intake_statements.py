"""SQL statements intake executes per consumed event and per ticket created over HTTP.

Run: .venv/bin/python bench/intake_statements.py [tickets]  (no broker, temp SQLite files)

Consumed: what intake follows of one ticket's life (classified, assigned, two SLA clocks
started, one stopped, the acknowledgement's delivery by email and the assignment's by webhook),
through the handler table in batches of 100, then one record per batch (the pipeline's shape
at a steady rate: each record a transaction of its own, or none when it changes nothing).
HTTP: ``POST /v1/tickets`` in process, without and with ``Idempotency-Key``, a new requester
each time and a returning one, all of an organisation that claims their mail domain; the
runtime's audit record of each write is part of the request and is counted. Posted one after
the other, then 8 at a time (as the pipeline's load generator keeps 8 connections busy): the
tickets of concurrent requests share a transaction (``GroupCommit``), with one INSERT per table.
"""

import asyncio
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from statements import BATCH, Statements, migrated, through_table

from helpline_intake.adapters.attachments import MemoryAttachmentStore
from helpline_intake.adapters.orm import metadata
from helpline_intake.bootstrap import MIGRATIONS, bootstrap
from helpline_intake.config import IntakeSettings
from helpline_intake.service_layer import handlers
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared.envelope import to_record
from helpline_shared.events import (
    Event,
    NotificationDelivered,
    Requester,
    SlaClockStarted,
    SlaClockStopped,
    TicketAssigned,
    TicketClassified,
    TicketCreated,
)
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.testing import stand_in_identity

TICKET = {
    "subject": "Export fails",
    "description": "since 4.2",
    "priority": "high",
    "type": "corrective",
    "tags": ["exports"],
}


def followed(ticket_id: str, tenant_id: str = "acme") -> list[Event]:
    """What intake consumes of one ticket's life."""
    now = utcnow()
    common: dict[str, Any] = {"tenant_id": tenant_id, "ticket_id": ticket_id, "occurred_at": now}
    deadline = now + timedelta(hours=1)
    return [
        TicketClassified(**common, rule_id="r1", rule_version=1, priority="high", team="billing"),
        TicketAssigned(
            **common,
            agent_id="agent-1",
            agent_name="Ada",
            agent_email="ada@acme.test",
            channel="api",
            candidates_considered=3,
            reason="least loaded",
        ),
        SlaClockStarted(
            **common,
            metric="first_response",
            target_seconds=3600,
            started_at=now,
            deadline=deadline,
            clock_version=1,
            reason="high",
        ),
        SlaClockStarted(
            **common,
            metric="resolution",
            target_seconds=86400,
            started_at=now,
            deadline=deadline,
            clock_version=1,
            reason="high",
        ),
        NotificationDelivered(
            **common,
            notification_id=uuid.uuid4().hex,
            channel="email",
            trigger_event_id=uuid.uuid4().hex,
            trigger_event_type=TicketCreated.event_type,
            attempt=1,
            outbound_message_id=f"<{uuid.uuid4().hex}@helpline.test>",
        ),
        NotificationDelivered(
            **common,
            notification_id=uuid.uuid4().hex,
            channel="webhook",
            trigger_event_id=uuid.uuid4().hex,
            trigger_event_type=TicketAssigned.event_type,
            attempt=1,
        ),
        SlaClockStopped(
            **common,
            metric="first_response",
            deadline=deadline,
            stopped_at=now,
            elapsed_seconds=60.0,
            breached=False,
            clock_version=2,
            reason="agent replied",
        ),
    ]


async def consumed(tickets: int, directory: Path) -> None:
    engine, unit_of_work = await migrated(
        directory / "consumer.db", MIGRATIONS, metadata, IntakeUnitOfWork
    )
    ids = []
    for _ in range(2 * tickets):  # the first half consumed in batches, the second one by one
        opened = await handlers.open_ticket(
            handlers.OpenTicket(
                tenant_id="acme",
                subject="S",
                description="D",
                requester=Requester(email="cy@customer.example"),
                priority="high",
                type="question",
                tags=[],
                channel="api",
            ),
            unit_of_work(),
        )
        ids.append(opened.id)
    events = [event for ticket_id in ids[:tickets] for event in followed(ticket_id)]
    statements = Statements(engine)
    await through_table(
        handlers.handler_table(),
        unit_of_work,
        [to_record(event, source="/bench") for event in events],
    )
    statements.report(
        f"consumed, handler table in batches of {BATCH} per partition", len(events), "events"
    )
    statements.reset()
    events = [event for ticket_id in ids[tickets:] for event in followed(ticket_id)]
    for event in events:  # the pipeline's shape at a steady rate: one record per poll
        await through_table(
            handlers.handler_table(), unit_of_work, [to_record(event, source="/bench")]
        )
    statements.report("consumed, one record per batch", len(events), "events")
    print(f"  = {len(statements.kinds) / tickets:.2f} statements per ticket")
    await engine.dispose()


async def created_over_http(tickets: int, directory: Path) -> None:
    identity = stand_in_identity()
    settings = IntakeSettings(
        data_dir=directory,
        **identity.settings(),
        smtp_server_enabled=False,
        domain_verification="trust",
    )
    await asyncio.to_thread(upgrade, MIGRATIONS, settings.resolved_database_url("intake"))
    app, runtime = bootstrap(settings, MemoryAttachmentStore())
    key = identity.api_key("acme", ["tickets:read", "tickets:write", "admin"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://intake",
        headers={"authorization": f"Bearer {key}"},
    ) as client:

        async def post(email: str, idempotency_key: str | None = None) -> None:
            headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
            response = await client.post(
                "/v1/tickets",
                headers=headers,
                json={**TICKET, "requester": {"email": email, "name": "Cy"}},
            )
            assert response.status_code == 201, response.text

        organization = await client.post(
            "/v1/organizations",
            json={"name": "Customer Inc", "plan": "enterprise", "domains": ["customer.example"]},
        )
        assert organization.status_code == 201, organization.text
        await post("warm@customer.example")  # credential cache, first statements compiled
        statements = Statements(runtime.engine)
        for n in range(tickets):
            await post(f"new-{n}@customer.example")
        statements.report("POST /v1/tickets, new requester", tickets, "tickets")
        statements.reset()
        for _ in range(tickets):
            await post("warm@customer.example")
        statements.report("POST /v1/tickets, known requester", tickets, "tickets")
        statements.reset()
        for n in range(tickets):
            await post("warm@customer.example", f"key-{n}")
        statements.report("POST /v1/tickets, known requester, Idempotency-Key", tickets, "tickets")
        statements.reset()
        for start in range(0, tickets, 8):
            await asyncio.gather(
                *(
                    post(f"burst-{n}@customer.example")
                    for n in range(start, min(start + 8, tickets))
                )
            )
        statements.report("POST /v1/tickets, new requester, 8 concurrent", tickets, "tickets")
    await runtime.engine.dispose()


async def main(tickets: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        await consumed(tickets, Path(directory))
        await created_over_http(tickets, Path(directory))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100))

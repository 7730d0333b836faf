"""SQL statements escalation executes per consumed ticket event, through its handler table:
each ticket's whole life in one batch, then as the pipeline sends it (``ticket.created``, then
``new`` -> ``open`` once assigned, in a later batch).

Run: .venv/bin/python bench/escalation_statements.py [tickets] [--postgres-port PORT]
(no broker; a temp SQLite file, or a fresh database on that PostgreSQL)
"""

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from statements import BATCH, Statements, arguments, database_url, migrated, through_table

from helpline_escalation.adapters.orm import metadata
from helpline_escalation.bootstrap import MIGRATIONS
from helpline_escalation.service_layer import handlers
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared.envelope import new_event_id, to_record
from helpline_shared.events import MessageAdded, Requester, TicketCreated, TicketStatusChanged
from helpline_shared.runtime.db import utcnow

DEFAULT = {"high": 3600}


def lifecycle(ticket_id: str) -> list[Any]:
    now = utcnow()
    return [
        TicketCreated(
            tenant_id="acme",
            ticket_id=ticket_id,
            occurred_at=now,
            subject="S",
            description="D",
            requester=Requester(email="a@example.com"),
            priority="high",
            type="question",
            channel="api",
        ),
        MessageAdded(
            tenant_id="acme",
            ticket_id=ticket_id,
            occurred_at=now,
            message_id=new_event_id(),
            author_role="system",
            public=True,
            channel="email",
            body="We got it",
            auto_reply=True,
        ),
        MessageAdded(
            tenant_id="acme",
            ticket_id=ticket_id,
            occurred_at=now,
            message_id=new_event_id(),
            author_role="agent",
            public=True,
            channel="api",
            body="Hello",
        ),
        TicketStatusChanged(
            tenant_id="acme",
            ticket_id=ticket_id,
            occurred_at=now,
            previous_status="open",
            status="solved",
        ),
    ]


async def main(tickets: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        await count(tickets, database_url(Path(directory) / "escalation.db", sys.argv))


def opened(ticket_id: str) -> TicketStatusChanged:
    """The status change intake publishes once the ticket is assigned."""
    return TicketStatusChanged(
        tenant_id="acme",
        ticket_id=ticket_id,
        occurred_at=utcnow(),
        previous_status="new",
        status="open",
    )


async def count(tickets: int, path: Path | str) -> dict[str, float]:
    """Statements per event of a whole life in one batch, per ``ticket.created`` and per later
    status change (printed too)."""
    engine, unit_of_work = await migrated(path, MIGRATIONS, metadata, EscalationUnitOfWork)
    statements = Statements(engine)
    table = handlers.handler_table(DEFAULT, unit_of_work)
    events = [e for n in range(tickets) for e in lifecycle(f"t-{n}")]
    await through_table(table, unit_of_work, [to_record(e, source="/bench") for e in events])
    figures = {"lifecycle event": len(statements.kinds) / len(events)}
    statements.report(
        f"handler table, batches of {BATCH} ({tickets} tickets)", len(events), "events"
    )
    for name, made in (
        ("created", lambda n: lifecycle(f"p-{n}")[0]),
        ("status change", lambda n: opened(f"p-{n}")),
    ):
        statements.reset()
        records = [to_record(made(n), source="/bench") for n in range(tickets)]
        await through_table(table, unit_of_work, records)
        figures[name] = len(statements.kinds) / tickets
        statements.report(f"as in the pipeline, {name}", tickets, "events")
    await engine.dispose()
    return figures


if __name__ == "__main__":
    numbers = arguments(sys.argv)
    asyncio.run(main(numbers[0] if numbers else 100))

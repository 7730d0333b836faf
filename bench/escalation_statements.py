"""SQL statements escalation executes per consumed ticket event, through its handler table.

Run: .venv/bin/python bench/escalation_statements.py [tickets]  (no broker, a temp SQLite file)
"""

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from statements import BATCH, Statements, migrated, through_table

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
        await count(tickets, Path(directory) / "escalation.db")


async def count(tickets: int, path: Path) -> None:
    engine, unit_of_work = await migrated(path, MIGRATIONS, metadata, EscalationUnitOfWork)
    statements = Statements(engine)
    events = [e for n in range(tickets) for e in lifecycle(f"t-{n}")]
    await through_table(
        handlers.handler_table(DEFAULT),
        unit_of_work,
        [to_record(e, source="/bench") for e in events],
    )
    await engine.dispose()
    statements.report(
        f"handler table, batches of {BATCH} ({tickets} tickets)", len(events), "events"
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100))

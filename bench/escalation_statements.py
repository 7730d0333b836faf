"""SQL statements escalation executes per consumed ticket event, old path or handler table.

Run: .venv/bin/python bench/escalation_statements.py [tickets]  (no broker, a temp SQLite file)
"""

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import async_sessionmaker

from helpline_escalation.adapters.orm import metadata
from helpline_escalation.bootstrap import MIGRATIONS
from helpline_escalation.service_layer import handlers
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared.envelope import from_record, new_event_id, to_record
from helpline_shared.events import MessageAdded, Requester, TicketCreated, TicketStatusChanged
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table, utcnow
from helpline_shared.runtime.migrations import upgrade

DEFAULT = {"high": 3600}


def lifecycle(ticket_id: str) -> list[Any]:
    now = utcnow()
    return [
        TicketCreated(tenant_id="acme", ticket_id=ticket_id, occurred_at=now, subject="S",
                      description="D", requester=Requester(email="a@example.com"),
                      priority="high", type="question", channel="api"),
        MessageAdded(tenant_id="acme", ticket_id=ticket_id, occurred_at=now,
                     message_id=new_event_id(), author_role="system", public=True,
                     channel="email", body="We got it", auto_reply=True),
        MessageAdded(tenant_id="acme", ticket_id=ticket_id, occurred_at=now,
                     message_id=new_event_id(), author_role="agent", public=True,
                     channel="api", body="Hello"),
        TicketStatusChanged(tenant_id="acme", ticket_id=ticket_id, occurred_at=now,
                            previous_status="open", status="solved"),
    ]


async def main(tickets: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        await count(tickets, Path(directory) / "escalation.db")


async def count(tickets: int, path: Path) -> None:
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, MIGRATIONS, url)
    engine = create_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    def unit_of_work() -> EscalationUnitOfWork:
        return EscalationUnitOfWork(sessions, outbox_table=outbox_table(metadata),
                                    inbox_table=inbox_table(metadata), source="/bench")

    statements: list[str] = []
    sa_event.listen(engine.sync_engine, "before_cursor_execute",
                    lambda *args: statements.append(str(args[2]).split()[0].upper()))
    sa_event.listen(engine.sync_engine, "commit", lambda _c: statements.append("COMMIT"))
    sa_event.listen(engine.sync_engine, "rollback", lambda _c: statements.append("ROLLBACK"))
    events = [e for n in range(tickets) for e in lifecycle(f"t-{n}")]
    records = [to_record(e, source="/bench") for e in events]
    if hasattr(handlers, "handler_table"):
        from opentelemetry.trace import NoOpTracer

        from helpline_shared.runtime.consumer import DeadLetters, TableConsumer
        from helpline_shared.runtime.testing import (
            FakeKafkaConsumer,
            RecordingProducer,
            raw_record,
        )
        consumer = TableConsumer(table=handlers.handler_table(DEFAULT), unit_of_work=unit_of_work,
                                 dead_letters=DeadLetters(RecordingProducer(), "g"),
                                 tracer=NoOpTracer(), group="g")
        raw = [raw_record(r.headers, r.value, offset=n, key=r.key)
               for n, r in enumerate(records)]
        for start in range(0, len(raw), 100):  # HELPLINE_CONSUMER_BATCH_SIZE's default
            await consumer.consume(raw[start:start + 100], FakeKafkaConsumer())
        path_name = "handler table, batches of 100"
    else:
        for record in records:
            await handlers.on_ticket_event(from_record(record.headers, record.value),
                                           unit_of_work(), DEFAULT)
        path_name = "one transaction per event (old)"
    await engine.dispose()
    kinds: dict[str, int] = {}
    for statement in statements:
        kinds[statement] = kinds.get(statement, 0) + 1
    print(f"{path_name}: {len(events)} events ({tickets} tickets), {len(statements)} statements"
          f" = {len(statements) / len(events):.2f} per event; by kind: "
          + ", ".join(f"{k} {v / len(events):.2f}" for k, v in sorted(kinds.items())))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100))

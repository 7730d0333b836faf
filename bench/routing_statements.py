"""SQL statements routing executes per routing decision (one new ticket routed to an agent).

Every ticket is a consumed ``TicketCreated`` routed against a tenant of registered agents: on
the handler table in batches of 100 when routing has one, else one transaction per event.

Run: .venv/bin/python bench/routing_statements.py [tickets] [agents]  (no broker, temp SQLite)
"""

import asyncio
import sys
import tempfile
from pathlib import Path

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import async_sessionmaker

from helpline_routing.adapters.orm import metadata
from helpline_routing.bootstrap import MIGRATIONS
from helpline_routing.service_layer import agents, handlers
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared.envelope import from_record, to_record
from helpline_shared.events import Requester, TicketCreated
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table, utcnow
from helpline_shared.runtime.migrations import upgrade


def new_ticket(ticket_id: str) -> TicketCreated:
    """A ticket every registered agent may take."""
    return TicketCreated(tenant_id="acme", ticket_id=ticket_id, occurred_at=utcnow(),
                         subject="S", description="D", requester=Requester(email="a@example.com"),
                         priority="normal", type="question", tags=("exports",), channel="api")


async def main(tickets: int, agent_count: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        await count(tickets, agent_count, Path(directory) / "routing.db")


async def count(tickets: int, agent_count: int, path: Path) -> None:
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, MIGRATIONS, url)
    engine = create_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    def unit_of_work() -> RoutingUnitOfWork:
        return RoutingUnitOfWork(sessions, outbox_table=outbox_table(metadata),
                                 inbox_table=inbox_table(metadata), source="/bench")

    for index in range(agent_count):
        await agents.register_agent(agents.RegisterAgent(
            tenant_id="acme", name=f"Agent {index}", email=f"a{index}@acme.test",
            skills={"exports": 1 + index % 10}, capacity={"api": tickets, "email": tickets},
            presence="available"), unit_of_work())

    statements: list[str] = []
    sa_event.listen(engine.sync_engine, "before_cursor_execute",
                    lambda *args: statements.append(str(args[2]).split()[0].upper()))
    sa_event.listen(engine.sync_engine, "commit", lambda _c: statements.append("COMMIT"))
    sa_event.listen(engine.sync_engine, "rollback", lambda _c: statements.append("ROLLBACK"))
    records = [to_record(new_ticket(f"t-{n}"), source="/bench") for n in range(tickets)]
    if hasattr(handlers, "handler_table"):
        from opentelemetry.trace import NoOpTracer

        from helpline_shared.runtime.consumer import DeadLetters, TableConsumer
        from helpline_shared.runtime.testing import (
            FakeKafkaConsumer,
            RecordingProducer,
            raw_record,
        )
        consumer = TableConsumer(table=handlers.handler_table(), unit_of_work=unit_of_work,
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
                                           unit_of_work())
        path_name = "one transaction per event (old)"
    await engine.dispose()
    kinds: dict[str, int] = {}
    for statement in statements:
        kinds[statement] = kinds.get(statement, 0) + 1
    print(f"{path_name}: {tickets} decisions, {agent_count} agents, {len(statements)} statements"
          f" = {len(statements) / tickets:.2f} per decision; by kind: "
          + ", ".join(f"{k} {v / tickets:.2f}" for k, v in sorted(kinds.items())))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200,
                     int(sys.argv[2]) if len(sys.argv) > 2 else 50))

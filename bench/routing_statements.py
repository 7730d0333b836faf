"""SQL statements routing executes per routing decision (one new ticket routed to an agent),
then per status change of a routed ticket (``new`` -> ``open``, as intake sends once assigned).

Every ticket is a consumed ``TicketCreated`` routed against a tenant of registered agents,
through routing's handler table in batches of 100; the status changes follow in later batches.

Run: .venv/bin/python bench/routing_statements.py [tickets] [agents] [--postgres-port PORT]
(no broker; a temp SQLite file, or a fresh database on that PostgreSQL)
"""

import asyncio
import sys
import tempfile
from pathlib import Path

from statements import BATCH, Statements, arguments, database_url, migrated, through_table

from helpline_routing.adapters.orm import metadata
from helpline_routing.bootstrap import MIGRATIONS
from helpline_routing.service_layer import agents, handlers
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared.envelope import to_record
from helpline_shared.events import Requester, TicketCreated, TicketStatusChanged
from helpline_shared.runtime.db import utcnow


def new_ticket(ticket_id: str) -> TicketCreated:
    """A ticket every registered agent may take."""
    return TicketCreated(
        tenant_id="acme",
        ticket_id=ticket_id,
        occurred_at=utcnow(),
        subject="S",
        description="D",
        requester=Requester(email="a@example.com"),
        priority="normal",
        type="question",
        tags=("exports",),
        channel="api",
    )


def opened(ticket_id: str) -> TicketStatusChanged:
    """The status change intake publishes once the ticket is assigned."""
    return TicketStatusChanged(
        tenant_id="acme",
        ticket_id=ticket_id,
        occurred_at=utcnow(),
        previous_status="new",
        status="open",
    )


async def main(tickets: int, agent_count: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        await count(tickets, agent_count, database_url(Path(directory) / "routing.db", sys.argv))


async def count(tickets: int, agent_count: int, path: Path | str) -> dict[str, float]:
    """Statements per decision and per later status change (printed too)."""
    engine, unit_of_work = await migrated(path, MIGRATIONS, metadata, RoutingUnitOfWork)
    for index in range(agent_count):
        await agents.register_agent(
            agents.RegisterAgent(
                tenant_id="acme",
                name=f"Agent {index}",
                email=f"a{index}@acme.test",
                skills={"exports": 1 + index % 10},
                capacity={"api": tickets, "email": tickets},
                presence="available",
            ),
            unit_of_work(),
        )
    statements = Statements(engine)
    await through_table(
        handlers.handler_table(),
        unit_of_work,
        [to_record(new_ticket(f"t-{n}"), source="/bench") for n in range(tickets)],
    )
    per_decision = len(statements.kinds) / tickets
    statements.report(
        f"handler table, batches of {BATCH}, {agent_count} agents", tickets, "decisions"
    )
    statements.reset()
    await through_table(
        handlers.handler_table(),
        unit_of_work,
        [to_record(opened(f"t-{n}"), source="/bench") for n in range(tickets)],
    )
    await engine.dispose()
    per_change = len(statements.kinds) / tickets
    statements.report("then new -> open, in later batches", tickets, "status changes")
    return {"decision": per_decision, "status change": per_change}


if __name__ == "__main__":
    numbers = arguments(sys.argv)
    asyncio.run(
        main(
            numbers[0] if len(numbers) > 0 else 200,
            numbers[1] if len(numbers) > 1 else 50,
        )
    )

"""The delivery worker's statements on PostgreSQL under a backlog its statistics never saw.

Statistics are usually taken at a quiet moment, when nothing is pending; then a burst queues
thousands of deliveries. A statement that finds its rows by id (saving an attempt, checking a
batch's attempts) or by ticket (is an older delivery of the ticket still pending?) must keep
to that index: read along the due index, it walks the whole backlog for each row (a quarter
of PostgreSQL's time per ticket in the burst of ``bench/pipeline.py --pg-statements``).
"""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from notify_rig import migrated_engine
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_devstack.postgres import PostgresServer, plan_nodes
from helpline_notify.adapters.ledger import DeliveryRepository
from helpline_notify.domain.model import Delivery

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
QUIET = 3_000
"""Deliveries done when the statistics were taken."""
BACKLOG = 3_000
"""Deliveries queued since, all pending."""

_ROWS = text(
    """
    INSERT INTO deliveries (id, tenant_id, ticket_id, channel, destination, trigger_event_id,
        trigger_event_type, payload, trace_headers, status, attempts, next_attempt_at,
        created_at, ordered)
    SELECT :prefix || n, 'acme', 'ticket-' || (n / 3), 'webhook', 'https://partner.example/in',
        :prefix || 'event-' || n, 'helpline.ticket.created', '{}', '{}', :status, 1,
        CAST(:created AS TIMESTAMPTZ) + n * interval '1 millisecond',
        CAST(:created AS TIMESTAMPTZ) + n * interval '1 millisecond', true
    FROM generate_series(1, :rows) AS n
    """
)


def _pending(number: int) -> Delivery:
    """Backlog delivery ``number`` as the worker holds it after its lease (one attempt)."""
    created = NOW + timedelta(milliseconds=number)
    return Delivery(
        id=f"backlog-{number}",
        tenant_id="acme",
        ticket_id=f"ticket-{number // 3}",
        channel="webhook",
        destination="https://partner.example/in",
        trigger_event_id=f"backlog-event-{number}",
        trigger_event_type="helpline.ticket.created",
        payload="{}",
        subject=None,
        trace_headers={},
        created_at=created,
        attempts=1,
        ordered=True,
    )


async def test_a_backlog_the_statistics_never_saw_is_not_walked_per_row(
    postgres: PostgresServer,
) -> None:
    async with migrated_engine(postgres) as engine:
        await _fill(engine)
        statements: list[tuple[str, Any]] = []

        def note(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            statements.append((statement, parameters))

        event.listen(engine.sync_engine, "before_cursor_execute", note)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session, session.begin():
            deliveries = DeliveryRepository(session)
            await deliveries.claim_due(NOW, NOW + timedelta(minutes=1), 10)
            claim = statements[-1]
            await deliveries.save_attempts([_delivered(_pending(7))])
            save_one = statements[-1]
            written = await deliveries.save_attempts([_delivered(_pending(n)) for n in (10, 11)])
            save_batch = statements[-1]
            await session.rollback()
        event.remove(engine.sync_engine, "before_cursor_execute", note)

        assert written == {"backlog-10", "backlog-11"}
        # One statement of arrays, one text, for one attempt or a batch.
        assert save_one[0] == save_batch[0]
        for statement, parameters in (save_one, save_batch):
            read = await _plan(engine, statement, parameters)
            assert read == ["deliveries_pkey"], (statement, read)
        claim_reads = await _plan(engine, *claim)
        assert claim_reads[0] == "ix_deliveries_due", claim_reads
        # An older pending delivery of the ticket: looked up among the ticket's own.
        assert "ix_deliveries_tenant_ticket" in claim_reads, claim_reads
        assert "ix_deliveries_destination_created" not in claim_reads, claim_reads


def _delivered(delivery: Delivery) -> Delivery:
    delivery.status = "delivered"
    delivery.delivered_at = NOW
    delivery.next_attempt_at = None
    return delivery


async def _fill(engine: AsyncEngine) -> None:
    """The quiet moment's deliveries and statistics, then the backlog."""
    async with engine.begin() as connection:
        await connection.execute(
            _ROWS,
            {
                "prefix": "done-",
                "status": "delivered",
                "created": NOW - timedelta(hours=1),
                "rows": QUIET,
            },
        )
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("ANALYZE deliveries"))
    async with engine.begin() as connection:
        await connection.execute(
            _ROWS, {"prefix": "backlog-", "status": "pending", "created": NOW, "rows": BACKLOG}
        )


async def _plan(engine: AsyncEngine, statement: str, parameters: Any) -> list[str]:
    """The indexes PostgreSQL reads for ``statement`` (an executemany's first row)."""
    if isinstance(parameters, list):
        parameters = parameters[0]
    async with engine.connect() as connection:
        result = await connection.exec_driver_sql(
            "EXPLAIN (FORMAT JSON) " + statement, tuple(parameters)
        )
        plan = result.scalar_one()
    nodes = plan_nodes(json.loads(plan) if isinstance(plan, str) else plan)
    return [node["Index Name"] for node in nodes if "Index Name" in node]

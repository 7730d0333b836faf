"""A batch's outcomes on PostgreSQL: one statement of arrays writes them and names the rows it
wrote (a delivery another worker took meanwhile is left as that worker holds it), and one
statement appends the batch's attempts, whatever the batch's size."""

from datetime import UTC, datetime
from typing import Any

import pytest
from notify_rig import migrated_engine
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import async_sessionmaker

from helpline_devstack.postgres import PostgresServer
from helpline_notify.adapters.ledger import DeliveryRepository
from helpline_notify.domain.model import Attempt, Delivery

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _leased(number: int) -> Delivery:
    """Delivery ``number`` as the worker holds it after its first lease."""
    return Delivery(
        id=f"d-{number}",
        tenant_id="acme",
        ticket_id=f"ticket-{number}",
        channel="webhook",
        destination="https://partner.example/in",
        trigger_event_id=f"event-{number}",
        trigger_event_type="helpline.ticket.created",
        payload="{}",
        subject=None,
        trace_headers={},
        created_at=NOW,
        attempts=1,
        next_attempt_at=NOW,
    )


def _attempt(delivery: Delivery, outcome: str, status_code: int | None) -> Attempt:
    return Attempt(
        delivery_id=delivery.id,
        tenant_id=delivery.tenant_id,
        attempt=delivery.attempts,
        started_at=NOW,
        latency_ms=12.5,
        outcome=outcome,
        status_code=status_code,
        detail=None if status_code == 204 else "503 Service Unavailable",
    )


async def test_a_batch_of_outcomes_is_one_statement_and_skips_a_delivery_taken_over(
    postgres: PostgresServer,
) -> None:
    async with migrated_engine(postgres) as engine:
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        batch = [_leased(n) for n in range(3)]
        async with sessions() as session, session.begin():
            queued = DeliveryRepository(session)
            await queued.add_all(batch)
            await queued.flush()
        async with sessions() as session, session.begin():  # another worker took d-1 again
            await session.execute(text("UPDATE deliveries SET attempts = 2 WHERE id = 'd-1'"))

        batch[0].status, batch[0].delivered_at, batch[0].next_attempt_at = "delivered", NOW, None
        batch[1].status, batch[1].delivered_at, batch[1].next_attempt_at = "delivered", NOW, None
        batch[2].last_error = "503 Service Unavailable"
        statements: list[tuple[str, bool]] = []

        def note(_c: Any, _cursor: Any, statement: str, _p: Any, _x: Any, many: bool) -> None:
            statements.append((statement.split()[0], many))

        event.listen(engine.sync_engine, "before_cursor_execute", note)
        async with sessions() as session, session.begin():
            deliveries = DeliveryRepository(session)
            written = await deliveries.save_attempts(batch)
            ours = [d for d in batch if d.id in written]
            await deliveries.record_attempts(
                [_attempt(d, d.status, 204 if d.status == "delivered" else 503) for d in ours]
            )
        event.remove(engine.sync_engine, "before_cursor_execute", note)

        assert written == {"d-0", "d-2"}
        # Each one statement, not an executemany (which the server runs once per row).
        assert statements == [("UPDATE", False), ("INSERT", False)], statements
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT id, status, attempts, last_error, delivered_at FROM deliveries")
            )
            stored = {row.id: row[1:] for row in rows}
            attempts = await connection.execute(
                text(
                    "SELECT delivery_id, attempt, outcome, status_code, latency_ms, detail"
                    " FROM delivery_attempts ORDER BY delivery_id"
                )
            )
            recorded = [tuple(row) for row in attempts]
        assert stored == {
            "d-0": ("delivered", 1, None, NOW),
            "d-1": ("pending", 2, None, None),  # as the other worker holds it
            "d-2": ("pending", 1, "503 Service Unavailable", None),
        }
        assert recorded == [
            ("d-0", 1, "delivered", 204, 12.5, None),
            ("d-2", 1, "pending", 503, 12.5, "503 Service Unavailable"),
        ]

"""The per-address mail cap reads one address's recent mail through its index, and no further
than the cap: its cost does not grow with traffic."""

from datetime import timedelta

from notify_testkit import NOW, TENANT, UnitOfWorkFactory, envelope_of, ticket_created
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_notify.domain.planning import pending_delivery


async def test_the_cap_counts_through_its_index_and_stops_at_the_cap(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    async with unit_of_work() as uow:
        await uow.deliveries.add_all(
            [
                pending_delivery(
                    envelope_of(ticket_created(f"t-{n}")),
                    "email",
                    "Carol@Example.com" if n % 2 else "dave@example.com",
                    payload="p",
                    now=NOW,
                    trace={},
                )
                for n in range(40)
            ]
        )
        await uow.commit()
    since = NOW - timedelta(hours=1)
    async with unit_of_work() as uow:
        assert await uow.deliveries.recent_email_count(TENANT, "carol@example.com", since) == 20
        assert (
            await uow.deliveries.recent_email_count(TENANT, "carol@example.com", since, up_to=5)
            == 5
        )
        assert (
            await uow.deliveries.recent_email_count(
                TENANT, "carol@example.com", NOW + timedelta(seconds=1)
            )
            == 0
        )
    async with engine.connect() as connection:
        plan = (
            await connection.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT count(*) FROM deliveries "
                    "WHERE tenant_id = 'acme' AND "
                    "channel = 'email' AND lower(destination) = 'carol@example.com' AND "
                    "created_at >= '2026-01-01' AND status != 'suppressed'"
                )
            )
        ).all()
    assert "ix_deliveries_recipient_window" in " ".join(str(row) for row in plan)

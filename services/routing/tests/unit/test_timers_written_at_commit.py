"""Routing's timers are written at commit with the shared TimerScheduler: one INSERT for all."""

from datetime import timedelta

from routing_support import Replicas
from sqlalchemy import func, select

from helpline_routing.adapters.orm import timers
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import StatementLog


async def test_the_timers_of_one_transaction_cost_one_insert(replicas: Replicas) -> None:
    uow, _other, engine = replicas
    log = StatementLog(engine)
    async with uow() as unit:
        for n in range(3):
            await unit.schedule(
                f"offer.expiry:o{n}",
                kind="offer.expiry",
                due_at=utcnow() + timedelta(minutes=n),
                payload={"offer_id": f"o{n}"},
            )
        await unit.commit()
    assert log.count("INSERT INTO timers") == 1  # was one per timer
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(timers)) == 3

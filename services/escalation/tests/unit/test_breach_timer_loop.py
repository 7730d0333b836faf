"""The real timer loop breaches a clock on time, and only once, on SQLite."""

import asyncio

from escalation_support import UnitOfWorkFactory, envelope_of, published, ticket_created
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_escalation.adapters.orm import timers
from helpline_escalation.service_layer import handlers
from helpline_shared.events import SlaBreached
from helpline_shared.runtime.timers import TimerLoop


async def test_breach_fires_on_time_and_once(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await handlers.on_ticket_event(
        envelope_of(ticket_created(priority="urgent")), unit_of_work(), {"urgent": 1}
    )
    loops = [
        TimerLoop(
            unit_of_work=unit_of_work,
            table=timers,
            fire=handlers.fire_breach_timer,
            service="escalation-test",
        )
        for _ in range(2)
    ]
    tasks = [asyncio.create_task(loop.run()) for loop in loops]
    try:
        await asyncio.sleep(1.8)
    finally:
        for loop in loops:
            await loop.stop()
        await asyncio.gather(*tasks)

    breaches = [e for e in await published(engine) if e.type == SlaBreached.event_type]
    assert len(breaches) == 1
    async with engine.connect() as connection:
        [(due_at, fired_at)] = (
            await connection.execute(select(timers.c.due_at, timers.c.fired_at))
        ).all()
    assert fired_at is not None
    assert 0 <= (fired_at - due_at).total_seconds() < 0.5

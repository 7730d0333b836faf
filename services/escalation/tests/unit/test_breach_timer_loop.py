"""Two real timer loops racing for a due breach timer fire it once, on SQLite.

Time is moved, not waited for: the timer's due time is set in the past, then both loops fire
what is due at the same moment. (How late the running loop fires is measured by
``bench/timers.py``.)
"""

import asyncio
from datetime import timedelta

from escalation_support import UnitOfWorkFactory, envelope_of, published, ticket_created
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_escalation.adapters.orm import timers
from helpline_escalation.service_layer import handlers
from helpline_shared.events import SlaBreached
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.timers import TimerLoop


async def test_a_due_breach_fires_once_when_two_loops_race_for_it(
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
    assert [(await loop.fire_due())[0] for loop in loops] == [0, 0], "not due yet"
    async with engine.begin() as connection:
        await connection.execute(update(timers).values(due_at=utcnow() - timedelta(seconds=1)))

    fired = await asyncio.gather(*(loop.fire_due() for loop in loops))

    assert sum(count for count, _next in fired) == 1
    breaches = [e for e in await published(engine) if e.type == SlaBreached.event_type]
    assert len(breaches) == 1
    async with engine.connect() as connection:
        [(due_at, fired_at)] = (
            await connection.execute(select(timers.c.due_at, timers.c.fired_at))
        ).all()
    assert fired_at is not None and fired_at >= due_at

"""A row published through a hand-off is marked sent only up to ``mark_delay`` later; another
replica's relay polling the same database meanwhile leaves it to the hand-off (no second
publication), unless its relay crashed (the row outlives the grace)."""

import json
from collections.abc import Callable
from datetime import datetime

from runtime_support import RuntimeDatabase, changed, outbox
from sqlalchemy import func, select

from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.outbox import HAND_OFF_GRACE, OutboxRelay
from helpline_shared.runtime.testing import RecordingProducer


def replica(
    database: RuntimeDatabase, clock: Callable[[], datetime] = utcnow
) -> tuple[OutboxRelay, RecordingProducer]:
    producer = RecordingProducer()
    relay = OutboxRelay(
        engine=database.engine, table=outbox, producer=producer, service="t", clock=clock
    )
    return relay, producer


def running(relay: OutboxRelay) -> OutboxRelay:
    relay._running, relay._behind = True, False  # as after its first poll
    return relay


async def commit(database: RuntimeDatabase, relay: OutboxRelay, ticket_id: str) -> None:
    async with database.unit_of_work(relay=relay) as uow:
        uow.publish(changed(ticket_id))
        await uow.commit()


async def unsent(database: RuntimeDatabase) -> int:
    async with database.engine.connect() as connection:
        count = await connection.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
        )
    return int(count or 0)


async def test_another_replica_does_not_publish_a_row_handed_off_and_not_yet_marked(
    sqlite_runtime: RuntimeDatabase,
) -> None:
    a, a_sent = replica(sqlite_runtime)
    b, b_sent = replica(sqlite_runtime)
    await commit(sqlite_runtime, running(a), "t1")
    assert await a.publish_handed() == 1
    assert await unsent(sqlite_runtime) == 1  # published, marked up to mark_delay later

    assert await b.publish_pending() == 0
    assert await a.mark_published() == 1
    assert await b.publish_pending() == 0
    assert (len(a_sent.sent), len(b_sent.sent)) == (1, 0)


async def test_a_row_whose_relay_crashed_is_published_by_another_replica_after_the_grace(
    sqlite_runtime: RuntimeDatabase,
) -> None:
    a, _ = replica(sqlite_runtime)
    await commit(sqlite_runtime, running(a), "t1")  # handed off; a dies before publishing

    b, b_sent = replica(sqlite_runtime)
    assert await b.publish_pending() == 0
    later, later_sent = replica(sqlite_runtime, clock=lambda: utcnow() + HAND_OFF_GRACE)
    assert await later.publish_pending() == 1
    assert (len(b_sent.sent), len(later_sent.sent)) == (0, 1)
    assert await unsent(sqlite_runtime) == 0


async def test_rows_committed_before_the_first_poll_are_published_by_it_in_order(
    sqlite_runtime: RuntimeDatabase,
) -> None:
    relay, producer = replica(sqlite_runtime)
    relay._running = True  # running, its first poll not yet made: no hand-off
    for ticket_id in ("t1", "t2"):
        await commit(sqlite_runtime, relay, ticket_id)

    # Not handed off, so not held back: a later hand-off must not overtake them.
    assert await relay.publish_pending() == 2
    assert [json.loads(value or b"")["ticket_id"] for _, value, _ in producer.sent] == ["t1", "t2"]
    assert await unsent(sqlite_runtime) == 0


async def test_the_final_flush_publishes_rows_committed_just_now(
    sqlite_runtime: RuntimeDatabase,
) -> None:
    other, _ = replica(sqlite_runtime)
    await commit(sqlite_runtime, running(other), "t1")  # handed to a relay that stops now
    await other.stop()
    assert await unsent(sqlite_runtime) == 0

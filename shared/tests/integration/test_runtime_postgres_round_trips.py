"""Round trips the runtime makes to PostgreSQL: reads and the relay's mark-sent send no BEGIN or
COMMIT, and the mark-sent statement is prepared once whatever the number of rows."""

import pytest
from runtime_support import RoundTrips, RuntimeDatabase, created, outbox
from sqlalchemy import func, select

from helpline_devstack.testing import unique_name
from helpline_shared.runtime.outbox import OutboxRelay
from helpline_shared.runtime.testing import RecordingProducer

pytestmark = pytest.mark.integration


async def test_a_read_only_unit_of_work_sends_only_its_statement(
    postgres_runtime: RuntimeDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def count_unsent() -> int:
        uow = postgres_runtime.unit_of_work()
        async with uow.read_only():
            return int(await uow.session.scalar(select(func.count()).select_from(outbox)) or 0)

    await count_unsent()  # prepares the statement and sets the connection up
    trips = RoundTrips(monkeypatch)
    assert await count_unsent() == 0
    assert trips.sent == {"statement": 1}


async def test_the_relay_marks_handed_rows_sent_in_one_round_trip_prepared_once(
    postgres_runtime: RuntimeDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = postgres_runtime.engine
    producer = RecordingProducer()
    relay = OutboxRelay(engine=engine, table=outbox, producer=producer, service="t")
    relay._running, relay._behind = True, False  # as after the relay's first poll

    async def commit_and_publish(count: int) -> None:
        async with postgres_runtime.unit_of_work(relay=relay) as uow:
            for _ in range(count):
                uow.publish(created(unique_name("t")))
            await uow.commit()
        assert await relay.publish_handed() == count

    await commit_and_publish(1)
    await commit_and_publish(1)  # marks the one before: its statement is prepared now
    trips = RoundTrips(monkeypatch)
    await commit_and_publish(3)
    await commit_and_publish(5)
    assert trips.sent == {"execute": 4, "statement": 2}
    assert await relay.mark_published() == 5

    # Per commit: BEGIN, one statement inserting the outbox rows and marking what the relay
    # published since the commit before (the same prepared statement for 1 row as for 3),
    # COMMIT; the relay marks the last 5 itself, in one statement (prepared now: the commits
    # mark in their own statement).
    assert trips.sent == {"execute": 4, "statement": 3, "prepare": 1}
    async with engine.connect() as connection:
        unsent = await connection.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
        )
    assert unsent == 0
    assert len(producer.sent) == 10

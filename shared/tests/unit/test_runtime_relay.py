"""The unit of work and the relay hand-off, on SQLite, without a broker."""

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_shared.events import TicketStatusChanged
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table, utcnow
from helpline_shared.runtime.outbox import OutboxRelay
from helpline_shared.runtime.testing import RecordingProducer, StatementLog
from helpline_shared.runtime.uow import SqlUnitOfWork

metadata = MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("text", String(64), nullable=False),
)


@pytest_asyncio.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def producer() -> RecordingProducer:
    return RecordingProducer()


@pytest.fixture
def relay(engine: AsyncEngine, producer: RecordingProducer) -> OutboxRelay:
    return OutboxRelay(engine=engine, table=outbox, producer=producer, service="test")


def units_of_work(
    engine: AsyncEngine, relay: OutboxRelay | None = None
) -> Callable[[], SqlUnitOfWork]:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    return lambda: SqlUnitOfWork(
        sessions, outbox_table=outbox, inbox_table=inbox, source="/helpline/test", relay=relay
    )


def changed(ticket_id: str) -> TicketStatusChanged:
    return TicketStatusChanged(
        tenant_id="acme",
        ticket_id=ticket_id,
        occurred_at=utcnow(),
        previous_status="open",
        status="solved",
    )


async def unsent(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(
            await connection.scalar(
                select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
            )
            or 0
        )


def running(relay: OutboxRelay) -> None:
    """As if ``relay.run`` had started and made its first poll."""
    relay._running, relay._behind = True, False


async def test_a_commit_hands_its_rows_to_the_relay_which_marks_them_sent_in_one_statement(
    engine: AsyncEngine, relay: OutboxRelay, producer: RecordingProducer
) -> None:
    running(relay)
    async with units_of_work(engine, relay)() as uow:
        for ticket_id in ("t1", "t2", "t3"):
            uow.publish(changed(ticket_id))
        await uow.commit()
    log = StatementLog(engine)

    assert await relay.publish_handed() == 3
    assert [headers["ce_type"] for _, _, headers in producer.sent] == [
        TicketStatusChanged.event_type
    ] * 3
    assert log.statements == []  # marked by the next commit, or by the relay when none comes
    assert await relay.mark_published() == 3
    # No SELECT of what was just committed: one UPDATE marks the rows sent.
    assert [s.split()[0] for s in log.statements] == ["BEGIN", "UPDATE", "COMMIT"]
    assert await unsent(engine) == 0
    assert await relay.publish_pending() == 0


async def test_rows_are_not_handed_over_before_the_relay_has_polled_what_a_crash_left(
    engine: AsyncEngine, relay: OutboxRelay, producer: RecordingProducer
) -> None:
    async with units_of_work(engine, relay)() as uow:
        uow.publish(changed("t1"))
        await uow.commit()
    assert await relay.publish_handed() == 0
    assert await relay.publish_pending() == 1
    assert len(producer.sent) == 1


async def test_a_row_both_polled_and_handed_over_is_published_once(
    engine: AsyncEngine, relay: OutboxRelay, producer: RecordingProducer
) -> None:
    running(relay)
    relay._hand_off_grace = timedelta(0)  # a hand-off slower than the grace
    async with units_of_work(engine, relay)() as uow:
        uow.publish(changed("t1"))
        await uow.commit()
    assert await relay.publish_pending() == 1
    assert await relay.publish_handed() == 0
    assert len(producer.sent) == 1


async def test_a_failed_hand_off_leaves_the_rows_for_the_poll(
    engine: AsyncEngine, relay: OutboxRelay, producer: RecordingProducer
) -> None:
    running(relay)
    async with units_of_work(engine, relay)() as uow:
        uow.publish(changed("t1"))
        await uow.commit()
    producer.failing = True
    with pytest.raises(ConnectionError):
        await relay.publish_handed()
    assert await unsent(engine) == 1
    producer.failing = False
    assert await relay.publish_pending() == 1
    assert await unsent(engine) == 0


async def test_after_commit_hooks_run_after_a_commit_and_never_after_a_rollback(
    engine: AsyncEngine,
) -> None:
    woken: list[str] = []
    unit_of_work = units_of_work(engine)
    async with unit_of_work() as uow:
        uow.after_commit(lambda: woken.append("rolled back"))
        await uow.session.execute(insert(notes).values(text="x"))
        await uow.rollback()
        uow.after_commit(lambda: woken.append("committed"))
        assert woken == []
        await uow.commit()
    async with unit_of_work() as uow:
        uow.after_commit(lambda: woken.append("left open"))
    assert woken == ["committed"]


async def test_a_reader_does_not_wait_for_the_writer_and_writers_queue_in_process(
    engine: AsyncEngine,
) -> None:
    unit_of_work = units_of_work(engine)
    order: list[str] = []

    async def second_writer() -> None:
        async with unit_of_work() as uow:
            await uow.session.execute(insert(notes).values(text="second"))
            await uow.commit()
        order.append("second committed")

    async with unit_of_work() as first:
        await first.session.execute(insert(notes).values(text="first"))
        waiting = asyncio.create_task(second_writer())
        for _ in range(20):
            await asyncio.sleep(0)  # let the second writer run as far as it can
        async with unit_of_work().read_only() as reader:
            assert await reader.session.scalar(select(func.count()).select_from(notes)) == 0
        assert not waiting.done()
        await first.commit()
        order.append("first committed")
    await waiting
    assert order == ["first committed", "second committed"]


async def test_the_running_relay_publishes_a_commit_at_once_without_polling_for_it(
    engine: AsyncEngine, producer: RecordingProducer
) -> None:
    relay = OutboxRelay(
        engine=engine, table=outbox, producer=producer, service="test", poll_interval=3600
    )
    unit_of_work = units_of_work(engine, relay)
    async with unit_of_work() as uow:
        uow.publish(changed("left behind"))
        await uow.commit()
    running_relay = asyncio.create_task(relay.run())
    try:
        await asyncio.wait_for(producer.arrived.wait(), 5)  # its first poll found that one
        producer.arrived.clear()
        log = StatementLog(engine)
        async with unit_of_work() as uow:
            uow.publish(changed("t1"))
            await uow.commit()
        await asyncio.wait_for(producer.arrived.wait(), 5)
        assert len(producer.sent) == 2
        assert not [s for s in log.statements if s.startswith("SELECT")]
    finally:
        await relay.stop()
        await running_relay

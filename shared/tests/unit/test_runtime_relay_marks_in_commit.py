"""Rows the relay published through a hand-off are marked sent by the next commit, not by a
transaction of the relay's own."""

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import MetaData, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Session

from helpline_shared.events import TicketStatusChanged
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table, utcnow
from helpline_shared.runtime.outbox import OutboxRelay
from helpline_shared.runtime.testing import RecordingProducer, StatementLog
from helpline_shared.runtime.uow import SqlUnitOfWork

metadata = MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


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
    relay = OutboxRelay(engine=engine, table=outbox, producer=producer, service="test")
    relay._running, relay._behind = True, False  # as after its first poll
    return relay


def units_of_work(engine: AsyncEngine, relay: OutboxRelay) -> Callable[[], SqlUnitOfWork]:
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


async def committed(unit_of_work: Callable[[], SqlUnitOfWork], ticket_id: str) -> None:
    async with unit_of_work() as uow:
        uow.publish(changed(ticket_id))
        await uow.commit()


async def test_the_next_commit_marks_what_the_relay_published_in_its_own_transaction(
    engine: AsyncEngine, relay: OutboxRelay
) -> None:
    unit_of_work = units_of_work(engine, relay)
    await committed(unit_of_work, "t1")
    await committed(unit_of_work, "t2")
    assert await relay.publish_handed() == 2
    log = StatementLog(engine)

    await committed(unit_of_work, "t3")

    # One transaction: the new row, the two published marked sent, one commit.
    assert [s.split()[0] for s in log.statements] == ["BEGIN", "INSERT", "UPDATE", "COMMIT"]
    assert await unsent(engine) == 1  # t3, handed over and not yet published
    log.clear()
    assert await relay.mark_published() == 0  # nothing left for the relay to mark
    assert log.statements == []


async def test_a_commit_that_fails_leaves_the_marks_to_the_relay(
    engine: AsyncEngine, relay: OutboxRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    unit_of_work = units_of_work(engine, relay)
    await committed(unit_of_work, "t1")
    await relay.publish_handed()

    def refused(_session: Session) -> None:
        raise RuntimeError("the commit failed")

    with monkeypatch.context() as patched:
        patched.setattr(Session, "commit", refused)
        with pytest.raises(RuntimeError):
            await committed(unit_of_work, "t2")
    assert await unsent(engine) == 1
    assert await relay.mark_published() == 1
    assert await unsent(engine) == 0


async def test_the_poll_marks_first_and_does_not_publish_a_handed_row_again(
    engine: AsyncEngine, relay: OutboxRelay, producer: RecordingProducer
) -> None:
    await committed(units_of_work(engine, relay), "t1")
    assert await relay.publish_handed() == 1

    assert await relay.publish_pending() == 0
    assert len(producer.sent) == 1
    assert await unsent(engine) == 0


async def test_a_row_a_commit_is_marking_is_not_published_again_by_a_poll(
    engine: AsyncEngine, relay: OutboxRelay, producer: RecordingProducer
) -> None:
    await committed(units_of_work(engine, relay), "t1")
    assert await relay.publish_handed() == 1
    taken = relay.take_published()  # a commit on another connection is marking it

    assert await relay.publish_pending() == 0
    assert len(producer.sent) == 1
    relay.give_back(taken)  # that commit failed
    assert await relay.mark_published() == 1
    assert await unsent(engine) == 0


async def test_the_running_relay_marks_by_itself_when_no_commit_comes(
    engine: AsyncEngine, producer: RecordingProducer
) -> None:
    relay = OutboxRelay(
        engine=engine,
        table=outbox,
        producer=producer,
        service="test",
        poll_interval=3600,
        mark_delay=0.01,
    )
    await committed(units_of_work(engine, relay), "left behind")
    running_relay = asyncio.create_task(relay.run())
    try:
        await asyncio.wait_for(producer.arrived.wait(), 5)  # its first poll found that one
        producer.arrived.clear()
        await committed(units_of_work(engine, relay), "t1")
        await asyncio.wait_for(producer.arrived.wait(), 5)
        for _ in range(500):
            if not await unsent(engine):
                break
            await asyncio.sleep(0.01)
        assert await unsent(engine) == 0
    finally:
        await relay.stop()
        await running_relay


async def test_a_unit_of_work_that_only_reads_marks_nothing(
    engine: AsyncEngine, relay: OutboxRelay
) -> None:
    unit_of_work = units_of_work(engine, relay)
    await committed(unit_of_work, "t1")
    assert await relay.publish_handed() == 1
    log = StatementLog(engine)

    async with unit_of_work().read_only() as uow:
        await uow.session.execute(select(1))
        await uow.commit()

    assert not [s for s in log.statements if s.startswith("UPDATE")]
    assert await relay.mark_published() == 1
    assert await unsent(engine) == 0

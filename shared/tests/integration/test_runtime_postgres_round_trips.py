"""Round trips the runtime makes to PostgreSQL: reads and the relay's mark-sent send no BEGIN or
COMMIT, and the mark-sent statement is prepared once whatever the number of rows."""

import collections
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from asyncpg.connection import Connection
from asyncpg.prepared_stmt import PreparedStatement
from sqlalchemy import MetaData, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_devstack.postgres import PostgresServer
from helpline_devstack.testing import unique_name
from helpline_shared.events import Requester, TicketCreated
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table, utcnow
from helpline_shared.runtime.outbox import OutboxRelay
from helpline_shared.runtime.testing import RecordingProducer
from helpline_shared.runtime.uow import SqlUnitOfWork

pytestmark = pytest.mark.integration

metadata = MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


class RoundTrips:
    """Every request asyncpg sends and waits for, by what it is."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: collections.Counter[str] = collections.Counter()
        for owner, name, kind in (
            (Connection, "execute", "execute"),  # BEGIN, COMMIT, ROLLBACK, plain SQL
            (Connection, "prepare", "prepare"),
            (Connection, "executemany", "executemany"),
            (PreparedStatement, "fetch", "statement"),
        ):
            monkeypatch.setattr(owner, name, self._counted(getattr(owner, name), kind))

    def _counted(self, method: Callable[..., Any], kind: str) -> Callable[..., Any]:
        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.sent[kind] += 1
            return await method(*args, **kwargs)

        return counted


@pytest_asyncio.fixture
async def engine(postgres: PostgresServer) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(postgres.create_database(unique_name("rt")))
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


def created(ticket_id: str) -> TicketCreated:
    return TicketCreated(
        tenant_id="acme",
        ticket_id=ticket_id,
        occurred_at=utcnow(),
        subject="Printer",
        description="On fire",
        requester=Requester(email="ann@example.com"),
        priority="high",
        type="question",
        channel="api",
    )


async def test_a_read_only_unit_of_work_sends_only_its_statement(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def count_unsent() -> int:
        uow = SqlUnitOfWork(sessions, outbox_table=outbox, inbox_table=inbox, source="/t")
        async with uow.read_only():
            return int(await uow.session.scalar(select(func.count()).select_from(outbox)) or 0)

    await count_unsent()  # prepares the statement and sets the connection up
    trips = RoundTrips(monkeypatch)
    assert await count_unsent() == 0
    assert trips.sent == {"statement": 1}


async def test_the_relay_marks_handed_rows_sent_in_one_round_trip_prepared_once(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    producer = RecordingProducer()
    relay = OutboxRelay(engine=engine, table=outbox, producer=producer, service="t")
    relay._running, relay._behind = True, False  # as after the relay's first poll

    async def commit_and_publish(count: int) -> None:
        async with SqlUnitOfWork(
            sessions, outbox_table=outbox, inbox_table=inbox, source="/t", relay=relay
        ) as uow:
            for _ in range(count):
                uow.publish(created(unique_name("t")))
            await uow.commit()
        assert await relay.publish_handed() == count

    await commit_and_publish(1)
    await commit_and_publish(1)  # marks the one before: its statement is prepared now
    trips = RoundTrips(monkeypatch)
    await commit_and_publish(3)
    await commit_and_publish(5)
    assert trips.sent == {"execute": 4, "executemany": 2, "statement": 2}
    assert await relay.mark_published() == 5

    # Per commit: BEGIN, the outbox insert, the mark-sent of what the relay published since the
    # commit before (the same prepared statement for 1 row as for 3), COMMIT; the relay marks
    # the last 5 itself, in one statement.
    assert trips.sent == {"execute": 4, "executemany": 2, "statement": 3}
    async with engine.connect() as connection:
        unsent = await connection.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
        )
    assert unsent == 0
    assert len(producer.sent) == 10

"""The batch-first consumer without a broker: one transaction per batch, fallback, dead letters."""

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from opentelemetry.trace import NoOpTracer
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_shared.envelope import Envelope, new_event_id
from helpline_shared.events import (
    MessageAdded,
    Requester,
    TicketCreated,
    TicketStatusChanged,
)
from helpline_shared.runtime.consumer import DeadLetters, HandlerTable, TableConsumer
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table, utcnow
from helpline_shared.runtime.testing import (
    FakeKafkaConsumer,
    RecordingProducer,
    StatementLog,
    consumer_record,
    raw_record,
)
from helpline_shared.runtime.uow import SqlUnitOfWork, TransactionOwnedByRuntime

metadata = MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", String(64), nullable=False),
)

UnitOfWorkFactory = Callable[[], SqlUnitOfWork]


@pytest_asyncio.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'runtime.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def unit_of_work(engine: AsyncEngine) -> UnitOfWorkFactory:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    return lambda: SqlUnitOfWork(
        sessions, outbox_table=outbox, inbox_table=inbox, source="/helpline/test"
    )


class Rig:
    """A table consumer on SQLite with a recording dead-letter producer and no real sleeps."""

    def __init__(self, unit_of_work: UnitOfWorkFactory, table: HandlerTable[SqlUnitOfWork]) -> None:
        self.producer = RecordingProducer()
        self.kafka = FakeKafkaConsumer()
        self.slept: list[float] = []
        self.consumer = TableConsumer(
            table=table,
            unit_of_work=unit_of_work,
            dead_letters=DeadLetters(self.producer, "g"),
            tracer=NoOpTracer(),
            group="g",
            sleep=self._sleep,
        )

    async def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    @property
    def dead_lettered(self) -> list[dict[str, str]]:
        return [headers for _, _, headers in self.producer.sent]


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


def status(ticket_id: str) -> TicketStatusChanged:
    return TicketStatusChanged(
        tenant_id="acme",
        ticket_id=ticket_id,
        occurred_at=utcnow(),
        previous_status="open",
        status="solved",
    )


async def note(uow: SqlUnitOfWork, envelope: Envelope) -> None:
    """Write a row and publish an event: a handler as services write them."""
    event = envelope.event
    assert isinstance(event, TicketCreated)
    await uow.session.execute(insert(notes).values(ticket_id=event.ticket_id))
    uow.publish(status(event.ticket_id))


def table_of(
    apply: Callable[[SqlUnitOfWork, Envelope], object] = note,
) -> HandlerTable[SqlUnitOfWork]:
    return HandlerTable("test", {TicketCreated: apply})  # type: ignore[dict-item]


async def noted(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        return list(
            (await connection.execute(select(notes.c.ticket_id).order_by(notes.c.id))).scalars()
        )


async def outbox_size(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(outbox)) or 0)


async def test_a_batch_is_applied_in_one_transaction_with_one_inbox_claim(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    rig = Rig(unit_of_work, table_of())
    log = StatementLog(engine)
    await rig.consumer.consume(
        [consumer_record(created(f"t{n}"), offset=n) for n in range(5)], rig.kafka
    )

    assert log.count("BEGIN") == 1
    assert log.count("COMMIT") == 1
    assert log.count("INSERT INTO processed_events") == 1
    assert log.count("INSERT INTO outbox") == 1
    assert await noted(engine) == [f"t{n}" for n in range(5)]
    assert await outbox_size(engine) == 5
    assert rig.kafka.seeks == {} and rig.dead_lettered == []


async def test_records_already_applied_and_repeated_ids_in_a_batch_are_skipped(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    rig = Rig(unit_of_work, table_of())
    first = consumer_record(created("t1"), offset=0, event_id="ce-1")
    await rig.consumer.consume([first], rig.kafka)
    await rig.consumer.consume(
        [
            consumer_record(created("t1"), offset=0, event_id="ce-1"),
            consumer_record(created("t2"), offset=1, event_id="ce-2"),
            consumer_record(created("t2"), offset=2, event_id="ce-2"),
        ],
        rig.kafka,
    )
    assert await noted(engine) == ["t1", "t2"]


async def test_records_no_handler_wants_are_skipped_without_being_decoded(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    rig = Rig(unit_of_work, table_of())
    log = StatementLog(engine)
    unwanted = raw_record(
        [("ce_type", MessageAdded.event_type.encode())], b"not even JSON", offset=0
    )
    await rig.consumer.consume([unwanted], rig.kafka)
    # Decoding it would have dead-lettered it; touching the database would show statements.
    assert rig.dead_lettered == [] and log.statements == []
    await rig.consumer.consume([unwanted, consumer_record(created("t1"), offset=1)], rig.kafka)
    assert await noted(engine) == ["t1"]


async def test_a_record_that_is_not_an_event_is_dead_lettered_after_the_batch(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    rig = Rig(unit_of_work, table_of())
    await rig.consumer.consume(
        [
            consumer_record(created("t1"), offset=0),
            raw_record([], b"{}", offset=1),
            consumer_record(created("t2"), offset=2),
        ],
        rig.kafka,
    )
    assert await noted(engine) == ["t1", "t2"]
    [dead] = rig.dead_lettered
    assert (dead["helpline-dlq-offset"], dead["helpline-dlq-attempts"]) == ("1", "0")


async def test_a_failing_record_rolls_the_batch_back_and_is_dead_lettered_after_three_tries(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    calls: list[str] = []

    async def fails_on_t2(uow: SqlUnitOfWork, envelope: Envelope) -> None:
        assert isinstance(envelope.event, TicketCreated)
        calls.append(envelope.event.ticket_id)
        if envelope.event.ticket_id == "t2":
            raise ValueError("bad ticket")
        await note(uow, envelope)

    rig = Rig(unit_of_work, table_of(fails_on_t2))
    log = StatementLog(engine)
    await rig.consumer.consume(
        [consumer_record(created(f"t{n}"), offset=n) for n in range(1, 4)], rig.kafka
    )

    assert await noted(engine) == ["t1", "t3"]
    # The batch (t1, t2), then t1 alone, t2 three times, t3 alone.
    assert calls == ["t1", "t2", "t1", "t2", "t2", "t2", "t3"]
    assert log.count("COMMIT") == 2  # t1 and t3, one transaction each
    [dead] = rig.dead_lettered
    assert dead["helpline-dlq-attempts"] == "3"
    assert dead["helpline-dlq-error"] == "ValueError: bad ticket"
    assert rig.slept == [0.2, 0.4]
    assert await outbox_size(engine) == 2


async def test_a_record_that_fails_once_is_applied_by_the_one_by_one_replay(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    failures = ["t1"]

    async def flaky(uow: SqlUnitOfWork, envelope: Envelope) -> None:
        assert isinstance(envelope.event, TicketCreated)
        if envelope.event.ticket_id in failures:
            failures.remove(envelope.event.ticket_id)
            raise ValueError("once")
        await note(uow, envelope)

    rig = Rig(unit_of_work, table_of(flaky))
    await rig.consumer.consume(
        [consumer_record(created(f"t{n}"), offset=n) for n in range(3)], rig.kafka
    )
    assert await noted(engine) == ["t0", "t1", "t2"]
    assert rig.dead_lettered == [] and rig.slept == []


async def test_a_transient_failure_rewinds_and_applies_nothing(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    async def database_away(uow: SqlUnitOfWork, envelope: Envelope) -> None:
        await note(uow, envelope)
        raise OperationalError("INSERT", {}, ConnectionError("database is away"))

    rig = Rig(unit_of_work, table_of(database_away))
    records = [
        consumer_record(created(f"t{n}"), offset=10 + n, partition=p)
        for p in (0, 1)
        for n in range(2)
    ]
    await rig.consumer.consume(records, rig.kafka)

    assert await noted(engine) == [] and rig.dead_lettered == []
    assert rig.kafka.seeks == {("helpline.tickets", 0): 10, ("helpline.tickets", 1): 10}
    assert rig.slept == [1.0]
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(inbox)) == 0


async def test_the_partitions_of_a_poll_share_one_transaction_each_in_offset_order(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    rig = Rig(unit_of_work, table_of())
    log = StatementLog(engine)
    records = [consumer_record(created(f"t{n}"), offset=n, partition=n % 2) for n in range(6)]
    await rig.consumer.consume(records[::-1], rig.kafka)  # as a poll may list them
    applied = await noted(engine)
    assert sorted(applied) == [f"t{n}" for n in range(6)]
    assert [t for t in applied if int(t[1]) % 2 == 0] == ["t0", "t2", "t4"]  # partition 0
    assert [t for t in applied if int(t[1]) % 2 == 1] == ["t1", "t3", "t5"]  # partition 1
    assert log.count("COMMIT") == 1
    assert log.count("INSERT INTO processed_events") == 1


@pytest.mark.parametrize("misuse", ["commit", "open", "rollback", "claim"])
async def test_a_handler_that_opens_commits_or_claims_is_refused(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory, misuse: str
) -> None:
    async def owns_its_transaction(uow: SqlUnitOfWork, envelope: Envelope) -> None:
        await note(uow, envelope)
        if misuse == "commit":
            await uow.commit()
        elif misuse == "rollback":
            await uow.rollback()
        elif misuse == "claim":
            await uow.claim_event("test", new_event_id())
        else:
            async with uow:
                pass

    rig = Rig(unit_of_work, table_of(owns_its_transaction))
    await rig.consumer.consume([consumer_record(created("t1"), offset=0)], rig.kafka)
    assert await noted(engine) == []
    [dead] = rig.dead_lettered
    assert dead["helpline-dlq-error-type"] == TransactionOwnedByRuntime.__name__


def test_one_handler_per_event_type() -> None:
    table = table_of()
    with pytest.raises(ValueError, match="already has a handler"):
        table.register(TicketCreated, note)
    assert table.event_types == {TicketCreated.event_type}


async def test_partitions_left_when_the_time_budget_is_spent_are_read_again(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    rig = Rig(unit_of_work, table_of())
    readings = iter([0.0, 1.0, 99.0])
    # start, partition 0's second record, partition 1's first
    rig.consumer._clock = lambda: next(readings)
    rig.consumer._time_budget = 10.0
    await rig.consumer.consume(
        [consumer_record(created(f"t{n}"), offset=n, partition=n % 2) for n in range(4)], rig.kafka
    )
    assert await noted(engine) == ["t0", "t2"]
    assert rig.kafka.seeks == {("helpline.tickets", 1): 1}

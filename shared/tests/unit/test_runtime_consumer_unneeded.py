"""A handler table may name records its handlers would change nothing for: no transaction."""

from collections.abc import Sequence, Set

import pytest
from opentelemetry.trace import NoOpTracer
from runtime_support import created, inbox, outbox
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_shared.envelope import Envelope
from helpline_shared.events import TicketCreated
from helpline_shared.runtime.consumer import DeadLetters, HandlerTable, TableConsumer, Unneeded
from helpline_shared.runtime.testing import FakeKafkaConsumer, RecordingProducer, consumer_record
from helpline_shared.runtime.uow import SqlUnitOfWork


class Rig:
    """A consumer whose handler records what it applied, with an ``unneeded`` predicate."""

    def __init__(self, engine: AsyncEngine, unneeded: Unneeded) -> None:
        self.applied: list[str] = []
        self.slept: list[float] = []
        self.engine = engine
        sessions = async_sessionmaker(engine, expire_on_commit=False)

        async def apply(uow: SqlUnitOfWork, envelope: Envelope) -> None:
            self.applied.append(envelope.event.ticket_id)

        self.consumer = TableConsumer(
            table=HandlerTable("test", {TicketCreated: apply}, unneeded=unneeded),
            unit_of_work=lambda: SqlUnitOfWork(
                sessions, outbox_table=outbox, inbox_table=inbox, source="/t"
            ),
            dead_letters=DeadLetters(RecordingProducer(), "g"),
            tracer=NoOpTracer(),
            group="g",
            sleep=self.sleep,
        )

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    async def claimed(self) -> int:
        async with self.engine.connect() as connection:
            return len((await connection.execute(select(inbox.c.event_id))).all())


def skipping(*ticket_ids: str) -> Unneeded:
    async def unneeded(envelopes: Sequence[Envelope]) -> Set[str]:
        return {e.id for e in envelopes if e.event.ticket_id in ticket_ids}

    return unneeded


async def test_a_batch_of_unneeded_records_opens_no_transaction(engine: AsyncEngine) -> None:
    rig = Rig(engine, skipping("t0", "t1"))
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    records = [consumer_record(created(f"t{n}"), offset=n) for n in range(2)]

    await rig.consumer.consume(records, FakeKafkaConsumer())

    assert rig.applied == []
    assert statements == []


async def test_only_the_needed_records_are_applied_and_claimed(engine: AsyncEngine) -> None:
    rig = Rig(engine, skipping("t1"))
    records = [consumer_record(created(f"t{n}"), offset=n) for n in range(3)]

    await rig.consumer.consume(records, FakeKafkaConsumer())

    assert rig.applied == ["t0", "t2"]
    assert await rig.claimed() == 2


async def test_a_failing_check_skips_nothing(engine: AsyncEngine) -> None:
    async def broken(envelopes: Sequence[Envelope]) -> Set[str]:
        raise ValueError("bug")

    rig = Rig(engine, broken)
    records = [consumer_record(created(f"t{n}"), offset=n) for n in range(2)]

    await rig.consumer.consume(records, FakeKafkaConsumer())

    assert rig.applied == ["t0", "t1"]


async def test_an_outage_during_the_check_reads_the_records_again(engine: AsyncEngine) -> None:
    async def unreachable(envelopes: Sequence[Envelope]) -> Set[str]:
        raise OperationalError("select", {}, ConnectionError("down"))

    rig = Rig(engine, unreachable)
    kafka = FakeKafkaConsumer()
    records = [consumer_record(created(f"t{n}"), offset=n + 5) for n in range(2)]

    await rig.consumer.consume(records, kafka)

    assert rig.applied == []
    assert list(kafka.seeks.values()) == [5]
    assert rig.slept == [1.0]


@pytest.mark.parametrize("size", [1, 3])
async def test_without_a_check_every_record_is_applied(engine: AsyncEngine, size: int) -> None:
    rig = Rig(engine, skipping())
    records = [consumer_record(created(f"t{n}"), offset=n) for n in range(size)]

    await rig.consumer.consume(records, FakeKafkaConsumer())

    assert rig.applied == [f"t{n}" for n in range(size)]

"""A handler table may load what a batch's handlers read before they run (``prepare``): it is
given the batch's envelopes to apply, in the batch's transaction, and may not commit it."""

from collections.abc import Sequence

from opentelemetry.trace import NoOpTracer
from runtime_support import created, inbox, outbox
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_shared.envelope import Envelope
from helpline_shared.events import TicketCreated
from helpline_shared.runtime.consumer import DeadLetters, HandlerTable, Prepare, TableConsumer
from helpline_shared.runtime.testing import FakeKafkaConsumer, RecordingProducer, consumer_record
from helpline_shared.runtime.uow import SqlUnitOfWork, TransactionOwnedByRuntime


class Rig:
    """A consumer noting, in order, what ``prepare`` was given and what each handler applied."""

    def __init__(self, engine: AsyncEngine, prepare: Prepare[SqlUnitOfWork] | None = None) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

        async def noting(uow: SqlUnitOfWork, envelopes: Sequence[Envelope]) -> None:
            self.calls.append(("prepare", [e.event.ticket_id for e in envelopes]))

        async def apply(uow: SqlUnitOfWork, envelope: Envelope) -> None:
            self.calls.append(("apply", [envelope.event.ticket_id]))

        self.consumer = TableConsumer(
            table=HandlerTable("test", {TicketCreated: apply}, prepare=prepare or noting),
            unit_of_work=self.unit_of_work,
            dead_letters=DeadLetters(RecordingProducer(), "g"),
            tracer=NoOpTracer(),
            group="g",
        )

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.sessions, outbox_table=outbox, inbox_table=inbox, source="/t")


async def test_prepare_is_given_the_batch_once_before_its_handlers(engine: AsyncEngine) -> None:
    rig = Rig(engine)
    records = [consumer_record(created(f"t{n}"), offset=n) for n in range(3)]

    await rig.consumer.consume(records, FakeKafkaConsumer())

    assert rig.calls == [
        ("prepare", ["t0", "t1", "t2"]),
        ("apply", ["t0"]),
        ("apply", ["t1"]),
        ("apply", ["t2"]),
    ]


async def test_a_redelivered_batch_prepares_only_what_was_not_applied_before(
    engine: AsyncEngine,
) -> None:
    rig = Rig(engine)
    first = [consumer_record(created(f"t{n}"), offset=n) for n in range(2)]
    await rig.consumer.consume(first, FakeKafkaConsumer())
    rig.calls.clear()

    again = [*first, consumer_record(created("t2"), offset=2)]
    await rig.consumer.consume(again, FakeKafkaConsumer())

    # The commit's claim met t0 and t1: the batch is applied again, claimed first.
    assert rig.calls[-2:] == [("prepare", ["t2"]), ("apply", ["t2"])]


async def test_prepare_may_not_commit_the_batch(engine: AsyncEngine) -> None:
    committed: list[BaseException] = []

    async def committing(uow: SqlUnitOfWork, envelopes: Sequence[Envelope]) -> None:
        try:
            await uow.commit()
        except TransactionOwnedByRuntime as error:
            committed.append(error)
            raise

    rig = Rig(engine, committing)
    records = [consumer_record(created(f"t{n}"), offset=n) for n in range(2)]

    await rig.consumer.consume(records, FakeKafkaConsumer())

    assert len(committed) == 1
    # The batch failed: its records were applied one per transaction, none lost.
    assert rig.calls == [("apply", ["t0"]), ("apply", ["t1"])]

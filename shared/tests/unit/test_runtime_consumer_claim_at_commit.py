"""A consumed batch claims its events in its commit, not before applying them; a redelivered
batch (an event applied before) is applied again in one transaction that claims first, not one
transaction per record."""

from typing import Any

from opentelemetry.trace import NoOpTracer
from runtime_support import RuntimeDatabase, created, inbox, outbox
from sqlalchemy import func, literal, select

from helpline_shared.envelope import Envelope
from helpline_shared.events import TicketCreated
from helpline_shared.runtime.consumer import DeadLetters, HandlerTable, TableConsumer
from helpline_shared.runtime.testing import (
    FakeKafkaConsumer,
    RecordingProducer,
    StatementLog,
    consumer_record,
)
from helpline_shared.runtime.uow import SqlUnitOfWork

applied: list[str] = []


async def republish(uow: SqlUnitOfWork, envelope: Envelope) -> None:
    applied.append(envelope.id)
    await uow.session.execute(select(literal(envelope.id)))  # a read of the handler's
    uow.publish(created("again"))


def table_consumer(database: RuntimeDatabase) -> TableConsumer[SqlUnitOfWork]:
    return TableConsumer(
        table=HandlerTable("test", {TicketCreated: republish}),
        unit_of_work=database.unit_of_work,
        dead_letters=DeadLetters(RecordingProducer(), "g"),
        tracer=NoOpTracer(),
        group="g",
    )


def record(event_id: str, offset: int) -> Any:
    return consumer_record(created(event_id), offset=offset, event_id=event_id)


async def counts(database: RuntimeDatabase) -> tuple[int, int]:
    async with database.engine.connect() as connection:
        claimed = await connection.scalar(select(func.count()).select_from(inbox))
        staged = await connection.scalar(select(func.count()).select_from(outbox))
    return int(claimed or 0), int(staged or 0)


async def test_a_batch_is_claimed_after_its_handlers_ran_in_one_commit(
    sqlite_runtime: RuntimeDatabase,
) -> None:
    log = StatementLog(sqlite_runtime.engine)
    await table_consumer(sqlite_runtime).consume(
        [record(f"ce-{n}", n) for n in range(3)], FakeKafkaConsumer()
    )
    kinds = [statement.split()[0] for statement in log.statements]
    # The handlers' reads come first: no claim statement (a round trip on PostgreSQL) before.
    assert kinds == ["BEGIN", "SELECT", "SELECT", "SELECT", "INSERT", "INSERT", "COMMIT"]
    assert log.statements[4].startswith("INSERT INTO processed_events")
    assert await counts(sqlite_runtime) == (3, 3)


async def test_a_redelivered_batch_is_applied_again_in_one_transaction_claiming_first(
    sqlite_runtime: RuntimeDatabase,
) -> None:
    consumer = table_consumer(sqlite_runtime)
    await consumer.consume([record("ce-0", 0)], FakeKafkaConsumer())
    applied.clear()
    log = StatementLog(sqlite_runtime.engine)
    kafka = FakeKafkaConsumer()

    await consumer.consume([record(f"ce-{n}", n) for n in range(4)], kafka)

    # The batch's commit met ce-0: rolled back, then one transaction claiming first.
    assert log.count("BEGIN") == 2 and log.count("COMMIT") == 1 and log.count("ROLLBACK") == 1
    assert applied[-3:] == ["ce-1", "ce-2", "ce-3"] and applied.count("ce-0") == 1
    assert await counts(sqlite_runtime) == (4, 4)
    assert kafka.seeks == {}

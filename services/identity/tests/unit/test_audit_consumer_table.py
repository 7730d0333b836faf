"""Identity consumes the audit topic through its handler table: a batch in one transaction,
each record once, the runtime owning the unit of work."""

from pathlib import Path

from opentelemetry.trace import NoOpTracer
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_identity.bootstrap import bootstrap
from helpline_identity.config import IdentitySettings
from helpline_identity.service_layer import audit
from helpline_identity.service_layer.context import UnitOfWorkFactory
from helpline_shared.events import AuditRecorded
from helpline_shared.runtime.consumer import DeadLetters, TableConsumer
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import FakeKafkaConsumer, RecordingProducer, consumer_record


def audit_recorded(request_id: str) -> AuditRecorded:
    return AuditRecorded(
        tenant_id="acme",
        occurred_at=utcnow(),
        actor="user:u-ann",
        action="ticket.create",
        target="POST /v1/tickets",
        outcome="ok",
        request_id=request_id,
        source="198.51.100.4",
        service="intake",
        detail={},
    )


async def test_a_batch_of_audit_records_is_kept_in_one_transaction_each_once(
    database: tuple[UnitOfWorkFactory, AsyncEngine],
) -> None:
    unit_of_work, engine = database
    consumer = TableConsumer(
        table=audit.handler_table(),
        unit_of_work=unit_of_work,
        dead_letters=DeadLetters(RecordingProducer(), "g"),
        tracer=NoOpTracer(),
        group="g",
    )
    commits: list[object] = []
    event.listen(engine.sync_engine, "commit", commits.append)
    records = [
        consumer_record(audit_recorded(f"r{n}"), offset=n, event_id=f"e{n % 3}") for n in range(4)
    ]

    await consumer.consume(records, FakeKafkaConsumer())

    assert len(commits) == 1
    async with unit_of_work() as uow:
        entries = await uow.audit.search(
            "acme",
            limit=10,
            before_id=None,
            actor=None,
            action=None,
            target=None,
            since=None,
            until=None,
        )
    assert sorted(str(entry.request_id) for entry in entries) == ["r0", "r1", "r2"]


def test_identity_subscribes_through_the_handler_table(tmp_path: Path) -> None:
    _app, runtime = bootstrap(IdentitySettings(database_url=f"sqlite:///{tmp_path / 'unused.db'}"))
    (subscriber,) = runtime.broker.subscribers
    (call,) = subscriber.calls
    assert call.handler._declared_call.__qualname__ == "subscribe_table.<locals>.consume"

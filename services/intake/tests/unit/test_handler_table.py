"""Intake's consumer through the runtime's table: one transaction per batch, no handler opening
or committing, and the events intake does not follow skipped unread."""

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from opentelemetry.trace import NoOpTracer
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_intake.adapters.orm import metadata
from helpline_intake.bootstrap import MIGRATIONS
from helpline_intake.service_layer import handlers
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared import topics
from helpline_shared.events import (
    NotificationDelivered,
    NotificationFailed,
    Requester,
    SlaBreached,
    SlaClockStarted,
    TicketAssigned,
    TicketCreated,
    TicketStatusChanged,
    UserCreated,
    UserUpdated,
)
from helpline_shared.runtime.consumer import DeadLetters, TableConsumer
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import (
    FakeKafkaConsumer,
    RecordingProducer,
    StatementLog,
    consumer_record,
    outbox_events,
    raw_record,
    sqlite_units_of_work,
)

Factory = Callable[[], IntakeUnitOfWork]


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[tuple[Factory, AsyncEngine]]:
    async with sqlite_units_of_work(
        tmp_path / "intake.db", MIGRATIONS, metadata, IntakeUnitOfWork
    ) as made:
        yield made


def test_the_table_applies_what_intake_follows_and_nothing_else() -> None:
    table = handlers.handler_table()
    assert {
        TicketAssigned.event_type,
        SlaClockStarted.event_type,
        NotificationDelivered.event_type,
        UserCreated.event_type,
    } <= table.event_types
    assert table.get(TicketCreated.event_type) is None
    assert table.get(NotificationFailed.event_type) is None


async def test_a_batch_is_one_transaction_and_no_handler_owns_it(
    database: tuple[Factory, AsyncEngine],
) -> None:
    unit_of_work, engine = database
    opened = await handlers.open_ticket(
        handlers.OpenTicket(
            tenant_id="acme",
            subject="Export fails",
            description="since 4.2",
            requester=Requester(email="cy@example.org"),
            priority="high",
            type="corrective",
            tags=[],
            channel="api",
        ),
        unit_of_work(),
    )
    now = utcnow()
    events = [
        TicketAssigned(
            tenant_id="acme",
            ticket_id=opened.id,
            occurred_at=now,
            agent_id="agent-1",
            agent_name="Ada",
            agent_email="ada@acme.test",
            channel="api",
            candidates_considered=1,
            reason="only one",
        ),
        SlaClockStarted(
            tenant_id="acme",
            ticket_id=opened.id,
            occurred_at=now,
            metric="first_response",
            target_seconds=60,
            started_at=now,
            deadline=now + timedelta(minutes=1),
            clock_version=1,
            reason="high",
        ),
        SlaBreached(
            tenant_id="acme",
            ticket_id=opened.id,
            occurred_at=now,
            metric="first_response",
            deadline=now + timedelta(minutes=1),
            clock_version=1,
            reason="no reply",
        ),
        NotificationDelivered(
            tenant_id="acme",
            ticket_id=opened.id,
            occurred_at=now,
            notification_id="n1",
            channel="email",
            trigger_event_id="e1",
            trigger_event_type=TicketCreated.event_type,
            attempt=1,
            outbound_message_id="<ack-1@helpline.test>",
        ),
        UserCreated(
            tenant_id="acme",
            occurred_at=now,
            user_id="u-1",
            name="Ada",
            email="ada@acme.test",
            role="agent",
        ),
        UserUpdated(
            tenant_id="acme",
            occurred_at=now,
            user_id="u-1",
            name="Ada L.",
            email="ada@acme.test",
            role="lead",
        ),
    ]
    records = [consumer_record(event, offset=n) for n, event in enumerate(events)]
    # An event intake does not follow, whose body is not even valid: skipped, never decoded.
    records.append(
        raw_record(
            [("ce_type", TicketCreated.event_type.encode())],
            b"not json",
            offset=len(records),
            topic=topics.IDENTITY,
        )
    )
    producer = RecordingProducer()
    consumer = TableConsumer(
        table=handlers.handler_table(),
        unit_of_work=unit_of_work,
        dead_letters=DeadLetters(producer, "helpline-intake"),
        tracer=NoOpTracer(),
        group="helpline-intake",
    )
    log = StatementLog(engine)
    await consumer.consume(records, FakeKafkaConsumer())

    # A handler that opened, committed or claimed would have been refused and dead-lettered.
    assert producer.sent == []
    partitions = len({(record.topic, record.partition) for record in records})
    assert partitions == 4  # routing, sla, notifications, identity: one transaction for all
    assert log.count("COMMIT") == 1
    assert log.count("INSERT INTO processed_events") == 1
    async with unit_of_work() as uow:
        ticket = await uow.tickets.get("acme", opened.id)
        person = await uow.people.by_email("acme", "ada@acme.test")
        thread = await uow.mail.thread_ticket("acme", ["ack-1@helpline.test"])
    assert ticket is not None and ticket.assignee_id == "agent-1"
    assert ticket.sla["first_response"]["state"] == "breached"
    assert person is not None and person.role == "lead"
    assert thread == opened.id
    assert [e.type for e in await outbox_events(engine, metadata)][1:] == [
        TicketStatusChanged.event_type
    ]

"""An event no subscription or endpoint wants costs notify no read of the ticket; an event that
only teaches facts (a classification) writes them without reading the ticket first."""

from notify_testkit import (
    NOW,
    TENANT,
    UnitOfWorkFactory,
    composer,
    ledger,
    new_ticket_id,
    ticket_assigned,
    ticket_created,
)
from opentelemetry.trace import NoOpTracer
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_notify.service_layer import handlers
from helpline_shared.events import Event, SlaClockStarted, TicketClassified, TicketStatusChanged
from helpline_shared.runtime.consumer import DeadLetters, TableConsumer
from helpline_shared.runtime.testing import (
    FakeKafkaConsumer,
    RecordingProducer,
    StatementLog,
    consumer_record,
)


async def consume(unit_of_work: UnitOfWorkFactory, events: list[Event]) -> None:
    """Apply ``events`` as one partition's batch, as the runtime does."""
    producer = RecordingProducer()
    policy = handlers.EmailPolicy(
        escalation_email="escalations@example.com", email_domain="mail.acme.example"
    )
    consumer = TableConsumer(
        table=handlers.handler_table(policy, composer()),
        unit_of_work=unit_of_work,
        dead_letters=DeadLetters(producer, "helpline-notify"),
        tracer=NoOpTracer(),
        group="helpline-notify",
    )
    await consumer.consume(
        [
            consumer_record(event, offset=n, topic="helpline.tickets")
            for n, event in enumerate(events)
        ],
        FakeKafkaConsumer(),
    )
    assert producer.sent == []


def clock_started(ticket_id: str) -> SlaClockStarted:
    return SlaClockStarted(
        tenant_id=TENANT,
        ticket_id=ticket_id,
        occurred_at=NOW,
        metric="first_response",
        clock_version=1,
        reason="r",
        deadline=NOW,
        started_at=NOW,
        target_seconds=3600,
    )


def solved(ticket_id: str) -> TicketStatusChanged:
    return TicketStatusChanged(
        tenant_id=TENANT,
        ticket_id=ticket_id,
        occurred_at=NOW,
        previous_status="open",
        status="solved",
    )


def classified(ticket_id: str) -> TicketClassified:
    return TicketClassified(
        tenant_id=TENANT,
        ticket_id=ticket_id,
        occurred_at=NOW,
        priority="urgent",
        team="printers",
        rule_id="r-1",
        rule_version=1,
    )


def ticket_reads_of_their_own(log: StatementLog) -> list[str]:
    """Statements reading the ticket that are not the settings version's read anyway."""
    return [
        statement
        for statement in log.statements
        if statement.startswith("SELECT tickets") and "tenant_settings.version" not in statement
    ]


async def test_events_nobody_is_told_of_read_no_ticket(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    ticket_id = new_ticket_id()
    log = StatementLog(engine)

    await consume(unit_of_work, [clock_started(ticket_id), solved(ticket_id)])

    assert ticket_reads_of_their_own(log) == [], log.statements
    assert log.count("INSERT INTO tickets") == 0
    assert await ledger(unit_of_work, ticket_id) == []


async def test_a_classification_is_written_without_reading_the_ticket(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    ticket_id = new_ticket_id()
    await consume(unit_of_work, [ticket_created(ticket_id)])
    log = StatementLog(engine)

    await consume(unit_of_work, [classified(ticket_id)])

    assert ticket_reads_of_their_own(log) == [], log.statements
    assert log.count("INSERT INTO tickets") == 1
    async with unit_of_work() as uow:
        ticket = await uow.tickets.get(TENANT, ticket_id)
    assert ticket is not None
    assert (ticket.subject, ticket.priority, ticket.team) == (
        "Printer on fire",
        "urgent",
        "printers",
    )
    assert len(ticket.thread) == 1, "the acknowledgement's Message-ID is kept"


async def test_a_later_event_of_the_batch_sees_what_an_unread_lesson_taught(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    ticket_id = new_ticket_id()
    await consume(unit_of_work, [ticket_created(ticket_id)])
    log = StatementLog(engine)

    await consume(unit_of_work, [classified(ticket_id), ticket_assigned(ticket_id)])

    assert log.count("SELECT tickets") == 1, "read once, by the assignment that mails"
    assert log.count("INSERT INTO tickets") == 1, "both lessons in one upsert"
    async with unit_of_work() as uow:
        ticket = await uow.tickets.get(TENANT, ticket_id)
    assert ticket is not None
    assert (ticket.team, ticket.assignee_email) == ("printers", "ann@example.com")
    assert ticket.subject == "Printer on fire" and len(ticket.thread) == 2
    emails = [d.destination for d in await ledger(unit_of_work, ticket_id) if d.channel == "email"]
    assert sorted(emails) == ["ann@example.com", "carol@example.com"]

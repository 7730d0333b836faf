"""An event no subscription or endpoint wants costs notify no read of the ticket; an event that
only teaches facts (a classification) writes them without reading the ticket first."""

from notify_batches import classified, clock_started, consume, status_changed
from notify_testkit import (
    TENANT,
    UnitOfWorkFactory,
    ledger,
    new_ticket_id,
    ticket_assigned,
    ticket_created,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_shared.runtime.testing import StatementLog


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

    assert (
        await consume(
            unit_of_work, [clock_started(ticket_id), status_changed(ticket_id, "open", "solved")]
        )
    ).sent == []

    assert ticket_reads_of_their_own(log) == [], log.statements
    assert log.count("INSERT INTO tickets") == 0
    assert await ledger(unit_of_work, ticket_id) == []


async def test_a_classification_is_written_without_reading_the_ticket(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    ticket_id = new_ticket_id()
    assert (await consume(unit_of_work, [ticket_created(ticket_id)])).sent == []
    log = StatementLog(engine)

    assert (await consume(unit_of_work, [classified(ticket_id)])).sent == []

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
    assert (await consume(unit_of_work, [ticket_created(ticket_id)])).sent == []
    log = StatementLog(engine)

    assert (
        await consume(unit_of_work, [classified(ticket_id), ticket_assigned(ticket_id)])
    ).sent == []

    assert log.count("SELECT tickets") == 1, "read once, by the assignment that mails"
    assert log.count("INSERT INTO tickets") == 1, "both lessons in one upsert"
    async with unit_of_work() as uow:
        ticket = await uow.tickets.get(TENANT, ticket_id)
    assert ticket is not None
    assert (ticket.team, ticket.assignee_email) == ("printers", "ann@example.com")
    assert ticket.subject == "Printer on fire" and len(ticket.thread) == 2
    emails = [d.destination for d in await ledger(unit_of_work, ticket_id) if d.channel == "email"]
    assert sorted(emails) == ["ann@example.com", "carol@example.com"]


async def test_a_ticket_met_after_the_batch_read_the_settings_version_is_read_only_if_needed(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    mailed, quiet = new_ticket_id(), new_ticket_id()
    log = StatementLog(engine)

    producer = await consume(unit_of_work, [ticket_created(mailed), status_changed(quiet)])

    assert producer.sent == []
    assert ticket_reads_of_their_own(log) == [], "the status change needs no ticket"
    assert log.count("SELECT tickets") == 1, "the created ticket, with the settings version"

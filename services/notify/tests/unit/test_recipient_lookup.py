"""Who an email goes to and whether the address is suppressed are read in one statement."""

from notify_testkit import (
    TENANT,
    UnitOfWorkFactory,
    envelope_of,
    ledger,
    new_ticket_id,
    notify_of,
    ticket_assigned,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_notify.domain.people import Person
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import StatementLog


async def test_mailing_an_address_reads_its_person_and_suppression_at_once(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    ticket_id = new_ticket_id()
    log = StatementLog(engine)

    assert await notify_of(envelope_of(ticket_assigned(ticket_id)), unit_of_work) == 1

    assert log.count("SELECT suppressions") == 0, log.statements
    assert len([s for s in log.statements if "FROM suppressions" in s]) == 1


async def test_a_suppressed_address_and_a_deactivated_person_still_get_nothing(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    async with unit_of_work() as uow:
        await uow.suppressions.add(TENANT, "Ann@Example.com", "bounced 550", utcnow())
        await uow.commit()
    suppressed = new_ticket_id()
    await notify_of(envelope_of(ticket_assigned(suppressed)), unit_of_work)
    async with unit_of_work() as uow:
        await uow.suppressions.remove(TENANT, "ann@example.com")
        await uow.directory.save_person(
            Person(
                tenant_id=TENANT,
                user_id="agent-ann",
                name="Ann",
                email="ANN@example.com",
                role="agent",
                active=False,
            )
        )
        await uow.commit()
    deactivated = new_ticket_id()
    await notify_of(envelope_of(ticket_assigned(deactivated)), unit_of_work)

    [first] = await ledger(unit_of_work, suppressed)
    [second] = await ledger(unit_of_work, deactivated)
    assert (first.status, second.status) == ("suppressed", "suppressed")
    assert "suppressed" in (first.last_error or "")
    assert "deactivated" in (second.last_error or "")

"""What deliveries cost in SQL: the claim reads the suppressions of its emails in its own
statement, and the outcome of one delivery sent alone (a quiet pipeline's usual batch) is checked
and written by one statement."""

import asyncio

from notify_batches import worker
from notify_testkit import (
    TENANT,
    UnitOfWorkFactory,
    envelope_of,
    ledger,
    new_ticket_id,
    notify_of,
    ticket_assigned,
    ticket_created,
)
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_notify.adapters.fakes import FakeMailer
from helpline_notify.adapters.orm import deliveries
from helpline_shared.events import Requester, TicketCreated
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import StatementLog


def with_requester(event: TicketCreated, email: str) -> TicketCreated:
    return event.model_copy(update={"requester": Requester(email=email)})


async def test_the_outcome_of_a_lone_delivery_is_one_update(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    ticket_id = new_ticket_id()
    await notify_of(envelope_of(ticket_assigned(ticket_id)), unit_of_work)
    mailer = FakeMailer()
    log = StatementLog(engine)

    assert await worker(unit_of_work, mailer).deliver_due() == 1

    assert len(mailer.sent) == 1
    settle = log.statements[log.statements.index("COMMIT") + 1 :]
    assert [s.split()[0] for s in settle if not s.startswith("INSERT")] == [
        "BEGIN",
        "UPDATE",
        "COMMIT",
    ], settle
    assert [d.status for d in await ledger(unit_of_work, ticket_id)] == ["delivered"]


async def test_the_claim_reads_the_suppressions_of_its_emails_itself(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    mailed, suppressed = new_ticket_id(), new_ticket_id()
    await notify_of(envelope_of(ticket_created(mailed)), unit_of_work)
    await notify_of(
        envelope_of(with_requester(ticket_created(suppressed), "Dan@Example.com")), unit_of_work
    )
    async with unit_of_work() as uow:
        await uow.suppressions.add(TENANT, "dan@example.com", "bounced 550", utcnow())
        await uow.commit()
    mailer = FakeMailer()
    log = StatementLog(engine)

    assert await worker(unit_of_work, mailer).deliver_due() == 2

    claim = log.statements[: log.statements.index("COMMIT")]
    assert not any(s.startswith("SELECT suppressions") for s in claim), claim
    assert [m.to for m in mailer.sent] == ["carol@example.com"]
    [dan] = await ledger(unit_of_work, suppressed)
    assert dan.status == "suppressed" and "bounced 550" in (dan.last_error or "")


async def test_an_address_beyond_ascii_is_checked_as_python_lowers_it(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    ticket_id = new_ticket_id()
    await notify_of(
        envelope_of(with_requester(ticket_created(ticket_id), "ÉLODIE@example.com")), unit_of_work
    )
    async with unit_of_work() as uow:
        await uow.suppressions.add(TENANT, "élodie@example.com", "asked to", utcnow())
        await uow.commit()
    mailer = FakeMailer()

    await worker(unit_of_work, mailer).deliver_due()

    assert mailer.sent == []
    assert [d.status for d in await ledger(unit_of_work, ticket_id)] == ["suppressed"]


async def test_outcomes_settled_together_skip_a_delivery_taken_over(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    kept, taken = new_ticket_id(), new_ticket_id()
    await notify_of(envelope_of(ticket_created(kept)), unit_of_work)
    await notify_of(
        envelope_of(with_requester(ticket_created(taken), "dan@example.com")), unit_of_work
    )
    first = worker(unit_of_work, FakeMailer())
    claimed = await first.claim_due(10)
    [dan] = await ledger(unit_of_work, taken)
    async with engine.begin() as connection:  # another worker claimed it after the lease
        await connection.execute(
            update(deliveries).where(deliveries.c.id == dan.id).values(attempts=2)
        )
    log = StatementLog(engine)

    await asyncio.gather(*(first.deliver(delivery, endpoint) for delivery, endpoint in claimed))

    assert log.count("COMMIT") == 1, "both outcomes in one transaction"
    [mailed] = await ledger(unit_of_work, kept)
    [left] = await ledger(unit_of_work, taken)
    assert (mailed.status, left.status, left.attempts) == ("delivered", "pending", 2)

"""What a batch of events costs notify in SQL: its deliveries in one insert, each ticket's facts
in one upsert, no lookup of people for roles nobody mails, and nothing for an event that needs
no delivery beyond what its batch already read."""

from notify_batches import clock_started, consume
from notify_testkit import (
    TENANT,
    UnitOfWorkFactory,
    ledger,
    new_ticket_id,
    ticket_assigned,
    ticket_created,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_notify.service_layer import endpoints
from helpline_shared.events import Requester
from helpline_shared.runtime.testing import StatementLog


async def test_a_batch_inserts_its_deliveries_once_and_each_ticket_once(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await endpoints.register_webhook_endpoint(
        endpoints.RegisterWebhookEndpoint(
            tenant_id=TENANT,
            url="https://hooks.example.com/in",
            event_types=("*",),
            allow_private_networks=False,
        ),
        unit_of_work(),
    )
    first, second = new_ticket_id(), new_ticket_id()
    log = StatementLog(engine)

    # Another requester: mail to the same address would be counted for the cap, in the database.
    dave = ticket_created(second).model_copy(update={"requester": Requester(email="d@example.com")})
    producer = await consume(unit_of_work, [ticket_created(first), ticket_assigned(first), dave])

    assert producer.sent == []
    assert log.count("INSERT INTO deliveries") == 1, "one insert for the batch's deliveries"
    assert log.count("INSERT INTO tickets") == 2, "one upsert per ticket, not per fact"
    assert log.count("SELECT ticket_watchers") == 0, "no subscription mails the watchers"
    assert log.count("COMMIT") == 1
    queued = sorted((d.channel, d.destination) for d in await ledger(unit_of_work, first))
    assert [destination for channel, destination in queued if channel == "email"] == [
        "ann@example.com",
        "carol@example.com",
    ]
    assert len([1 for channel, _ in queued if channel == "webhook"]) == 2
    assert len(await ledger(unit_of_work, second)) == 2
    async with unit_of_work() as uow:
        ticket = await uow.tickets.get(TENANT, first)
    assert ticket is not None
    assert (ticket.subject, ticket.assignee_email) == ("Printer on fire", "ann@example.com")
    assert len(ticket.thread) == 2, "both mails threaded, written in the one upsert"


async def test_an_event_that_needs_no_delivery_costs_no_statement_in_its_batch(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    alone, followed = new_ticket_id(), new_ticket_id()
    log = StatementLog(engine)
    await consume(unit_of_work, [ticket_created(alone)])
    cost_alone = len(log.statements)
    log.clear()

    await consume(unit_of_work, [ticket_created(followed), clock_started(followed)])

    assert len(log.statements) == cost_alone, log.statements
    assert [d.channel for d in await ledger(unit_of_work, followed)] == ["email"]


async def test_the_mail_cap_counts_the_mail_its_own_batch_queued(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    tickets = [new_ticket_id() for _ in range(3)]

    await consume(unit_of_work, [ticket_created(ticket_id) for ticket_id in tickets], cap=2)

    statuses = [[d.status for d in await ledger(unit_of_work, ticket_id)] for ticket_id in tickets]
    assert statuses == [["pending"], ["pending"], ["suppressed"]]

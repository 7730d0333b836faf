"""A batch of a burst's events costs notify one read of its tickets, not one per ticket; an
agent's name and address, given again by each assignment, are written once per process, and
their address is checked (person, suppression) once per settings version."""

from notify_batches import classified, consume
from notify_people_kit import handle, person_joined, person_left
from notify_testkit import (
    NOW,
    OTHER_TENANT,
    TENANT,
    UnitOfWorkFactory,
    ledger,
    new_ticket_id,
    ticket_assigned,
    ticket_created,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_notify.adapters.orm import routing_agents
from helpline_shared.events import TenantDeleted, TicketAssigned, UserCreated
from helpline_shared.runtime.testing import StatementLog


def assigned_to(ticket_id: str, name: str, email: str, tenant_id: str = TENANT) -> TicketAssigned:
    """The ticket given to agent-ann under ``name`` and ``email``."""
    assigned = ticket_assigned(ticket_id, tenant_id)
    return TicketAssigned(**{**assigned.model_dump(), "agent_name": name, "agent_email": email})


async def agent_row(
    unit_of_work: UnitOfWorkFactory, tenant_id: str = TENANT
) -> list[tuple[str, str]]:
    async with unit_of_work() as uow:
        rows = await uow.session.execute(
            select(routing_agents.c.name, routing_agents.c.email).where(
                routing_agents.c.tenant_id == tenant_id
            )
        )
        return [(row.name, row.email) for row in rows]


async def test_the_tickets_of_a_batch_are_read_with_the_settings_version(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    first, second, third = new_ticket_id(), new_ticket_id(), new_ticket_id()
    assert (await consume(unit_of_work, [ticket_created(first)])).sent == []
    log = StatementLog(engine)

    producer = await consume(
        unit_of_work,
        [
            ticket_assigned(first),
            ticket_created(second),
            classified(third),
            ticket_created(third),
        ],
        skip_unneeded=True,
    )

    assert producer.sent == []
    assert log.count("SELECT tickets") == 1, log.statements
    assert log.count("INSERT INTO tickets") == 3, "each ticket's lessons in one upsert"
    for ticket_id in (second, third):
        mailed = [d.destination for d in await ledger(unit_of_work, ticket_id)]
        assert mailed == ["carol@example.com"], "the acknowledgement, as read alone"
    async with unit_of_work() as uow:
        ticket = await uow.tickets.get(TENANT, third)
        assigned = await uow.tickets.get(TENANT, first)
    assert ticket is not None and (ticket.subject, ticket.team) == ("Printer on fire", "printers")
    assert assigned is not None and assigned.assignee_email == "ann@example.com"
    assert assigned.subject == "Printer on fire", "what the earlier batch taught was read"


async def test_another_tenants_ticket_of_the_batch_is_read_with_its_own_settings_version(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    ours, theirs = new_ticket_id(), new_ticket_id()
    log = StatementLog(engine)

    await consume(
        unit_of_work,
        [ticket_created(ours), ticket_created(theirs, OTHER_TENANT)],
        skip_unneeded=True,
    )

    assert log.count("SELECT tickets") == 2, log.statements
    assert [d.destination for d in await ledger(unit_of_work, theirs, OTHER_TENANT)] == [
        "carol@example.com"
    ]


async def test_an_agent_given_again_with_the_same_name_and_address_is_not_written_again(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await consume(unit_of_work, [ticket_assigned(new_ticket_id())])
    log = StatementLog(engine)

    await consume(unit_of_work, [ticket_assigned(new_ticket_id())])
    assert log.count("INSERT INTO routing_agents") == 0, log.statements

    await consume(unit_of_work, [assigned_to(new_ticket_id(), "Ann B", "ann.b@example.com")])
    assert log.count("INSERT INTO routing_agents") == 1, "renamed: written"
    assert await agent_row(unit_of_work) == [("Ann B", "ann.b@example.com")]

    await consume(unit_of_work, [ticket_assigned(new_ticket_id())])
    assert await agent_row(unit_of_work) == [("Ann", "ann@example.com")], "and back"


async def test_an_agent_is_written_again_after_the_tenant_was_deleted(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    await consume(unit_of_work, [ticket_assigned(new_ticket_id())])
    await handle(unit_of_work, TenantDeleted(tenant_id=TENANT, occurred_at=NOW))
    assert await agent_row(unit_of_work) == []

    await consume(unit_of_work, [ticket_assigned(new_ticket_id())])

    assert await agent_row(unit_of_work) == [("Ann", "ann@example.com")]


async def test_an_agent_saved_by_a_transaction_that_rolled_back_is_written_again(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    async with unit_of_work() as uow:
        await uow.directory.save_agent(TENANT, "agent-ann", "Ann", "ann@example.com")
        await uow.rollback()

    await consume(unit_of_work, [ticket_assigned(new_ticket_id())])

    assert await agent_row(unit_of_work) == [("Ann", "ann@example.com")]


def user_created(name: str, email: str) -> UserCreated:
    """Identity announces an agent."""
    return UserCreated(
        tenant_id=TENANT,
        occurred_at=NOW,
        user_id=f"user-{name.lower()}",
        name=name,
        email=email,
        role="agent",
    )


async def settings_versioned(unit_of_work: UnitOfWorkFactory) -> None:
    """The tenant's settings get a version (as any change of them gives it)."""
    async with unit_of_work() as uow:
        await uow.settings_versions.changed(TENANT)
        await uow.commit()


async def next_assignment_mails(unit_of_work: UnitOfWorkFactory) -> list[tuple[str, str]]:
    """A new ticket assigned to Ann in a batch of its own: its assignment's mails as
    (address, status)."""
    ticket_id = new_ticket_id()
    await consume(unit_of_work, [ticket_assigned(ticket_id)])
    return [
        (d.destination, d.status)
        for d in await ledger(unit_of_work, ticket_id)
        if d.channel == "email" and d.trigger_event_type == "helpline.ticket.assigned.v1"
    ]


async def test_an_agents_address_is_checked_once_per_settings_version(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await settings_versioned(unit_of_work)
    await consume(unit_of_work, [ticket_assigned(new_ticket_id())])
    log = StatementLog(engine)

    mails = await next_assignment_mails(unit_of_work)

    assert log.count("SELECT people") == 0, log.statements
    assert mails == [("ann@example.com", "pending")]


async def test_an_agents_address_suppressed_since_is_not_mailed(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    await settings_versioned(unit_of_work)
    await consume(unit_of_work, [ticket_assigned(new_ticket_id())])
    async with unit_of_work() as uow:
        await uow.suppressions.add(TENANT, "Ann@example.com", "bounced 5.1.1", NOW)
        await uow.commit()

    assert await next_assignment_mails(unit_of_work) == [("ann@example.com", "suppressed")]


async def test_an_agent_deactivated_since_is_not_mailed(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    await settings_versioned(unit_of_work)
    ann = await person_joined(unit_of_work, "Ann", "ann@example.com")
    await consume(unit_of_work, [ticket_assigned(new_ticket_id())])
    await person_left(unit_of_work, ann)

    assert await next_assignment_mails(unit_of_work) == [("ann@example.com", "suppressed")]


async def test_a_batch_changing_people_again_and_again_writes_one_new_version(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await settings_versioned(unit_of_work)
    log = StatementLog(engine)

    await consume(
        unit_of_work, [user_created("Bob", "bob@example.com"), user_created("Eve", "e@x")]
    )

    assert log.count("INSERT INTO tenant_settings") == 1, log.statements
    async with unit_of_work() as uow:
        assert await uow.directory.by_email(TENANT, "e@x") is not None


async def test_what_is_kept_under_the_version_a_transaction_wrote_goes_with_its_next_change(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    async with unit_of_work() as uow:
        versions = uow.settings_versions
        await versions.changed(TENANT)
        version = versions.held(TENANT)
        assert version is not None
        versions.keep_at(TENANT, version, "recipient", "as read after the first change")

        await versions.changed(TENANT)

        assert versions.held(TENANT) == version, "not written again before the commit"
        assert versions.known_at(TENANT, version, "recipient") == (False, None)
        await uow.commit()

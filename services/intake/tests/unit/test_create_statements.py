"""Opening a ticket stores or finds its requester and organisation in one statement, and still
finds the organisation's plan for new and returning requesters alike."""

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_intake.adapters.orm import metadata
from helpline_intake.bootstrap import MIGRATIONS
from helpline_intake.service_layer import handlers, requesters
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared.events import Requester, TicketCreated
from helpline_shared.runtime.testing import StatementLog, sqlite_units_of_work

Factory = Callable[[], IntakeUnitOfWork]


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[tuple[Factory, AsyncEngine]]:
    async with sqlite_units_of_work(
        tmp_path / "intake.db", MIGRATIONS, metadata, IntakeUnitOfWork
    ) as made:
        yield made


async def open_for(unit_of_work: Factory, email: str) -> tuple[str | None, str | None]:
    """The organisation and plan the ticket opened for ``email`` was published with."""
    ticket = await handlers.open_ticket(
        handlers.OpenTicket(
            tenant_id="acme",
            subject="Export fails",
            description="since 4.2",
            requester=Requester(email=email),
            priority="high",
            type="corrective",
            tags=[],
            channel="api",
        ),
        unit_of_work(),
    )
    [created] = [event for event in ticket.events if isinstance(event, TicketCreated)]
    return created.organization_id, created.plan


async def test_a_new_or_returning_requester_and_its_organisation_are_one_statement(
    database: tuple[Factory, AsyncEngine],
) -> None:
    unit_of_work, engine = database
    organization = await requesters.save_organization(
        requesters.SaveOrganization(
            tenant_id="acme", name="Customer Inc", plan="premium", domains=["customer.example"]
        ),
        unit_of_work(),
    )
    log = StatementLog(engine)
    first = await open_for(unit_of_work, "cy@customer.example")
    new_requester = list(log.statements)
    log.clear()
    again = await open_for(unit_of_work, "Cy@Customer.example")
    returning = list(log.statements)

    assert first == (organization.id, "premium")
    assert again == (organization.id, "premium")
    # New or returning: one INSERT of the requester that returns its organisation and plan
    # (a known address updates nothing); no SELECT before it. Then the ticket and its outbox
    # rows: BEGIN, three INSERTs, COMMIT.
    for statements in (new_requester, returning):
        assert [statement.split()[0] for statement in statements] == [
            "BEGIN",
            "INSERT",
            "INSERT",
            "INSERT",
            "COMMIT",
        ]
        assert statements[1].startswith("INSERT INTO requesters")


async def test_a_requester_without_organisation_or_of_a_removed_one_has_no_plan(
    database: tuple[Factory, AsyncEngine],
) -> None:
    unit_of_work, _ = database
    alone = await open_for(unit_of_work, "solo@nowhere.example")
    again = await open_for(unit_of_work, "solo@nowhere.example")
    elsewhere = await requesters.save_organization(
        requesters.SaveOrganization(
            tenant_id="globex", name="Globex", plan="enterprise", domains=["globex.example"]
        ),
        unit_of_work(),
    )
    async with unit_of_work() as uow:
        record = await uow.directory.requester_by_email("acme", "solo@nowhere.example")
        assert record is not None
        record.organization_id = elsewhere.id  # an id of another tenant names nothing here
        await uow.directory.save_requester(record)
        await uow.commit()
    crossed = await open_for(unit_of_work, "solo@nowhere.example")

    assert alone == (None, None)
    assert again == (None, None)
    assert crossed == (None, None)

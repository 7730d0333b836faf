"""On PostgreSQL: revision 0008 indexes the domains organisations claim (its JSON list read as
PostgreSQL returns it), and a first contact's organisation is found in the one lookup."""

import asyncio

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from helpline_devstack.postgres import PostgresServer
from helpline_devstack.testing import unique_name
from helpline_intake.adapters.orm import metadata, organizations
from helpline_intake.bootstrap import MIGRATIONS
from helpline_intake.service_layer.requesters import origin_for
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared.events import Requester
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.testing import units_of_work


async def test_claims_are_filled_by_0008_and_a_first_contact_finds_its_organisation(
    postgres: PostgresServer,
) -> None:
    url = postgres.create_database(unique_name("intake"))
    await asyncio.to_thread(upgrade, MIGRATIONS, url, "0007")
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(
            sa.insert(organizations),
            [
                {
                    "id": "o1",
                    "tenant_id": "acme",
                    "name": "Customer",
                    "plan": "premium",
                    "domains": ["Customer.example"],
                    "created_at": utcnow(),
                }
            ],
        )
    await engine.dispose()
    async with units_of_work(url, MIGRATIONS, metadata, IntakeUnitOfWork) as (unit_of_work, _):
        async with unit_of_work() as uow:
            first = await origin_for(uow, "acme", Requester(email="cy@customer.example"))
            await uow.commit()
        async with unit_of_work() as uow:
            again = await origin_for(uow, "acme", Requester(email="cy@customer.example"))
            stranger = await origin_for(uow, "acme", Requester(email="x@elsewhere.example"))
    assert (first.organization_id, first.plan) == ("o1", "premium")
    assert (again.organization_id, again.plan) == ("o1", "premium")
    assert (stranger.organization_id, stranger.plan) == (None, None)

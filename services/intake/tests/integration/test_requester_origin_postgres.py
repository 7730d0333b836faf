"""On PostgreSQL: the one INSERT that stores a requester unless known returns the organisation
and plan of a new and a returning requester alike, its stored language, and no organisation
of another tenant; the known row keeps its name."""

import pytest
from sqlalchemy import select

from helpline_devstack.postgres import PostgresServer
from helpline_devstack.testing import unique_name
from helpline_intake.adapters.orm import metadata, requesters
from helpline_intake.bootstrap import MIGRATIONS
from helpline_intake.service_layer import requesters as directory
from helpline_intake.service_layer.requesters import origin_for
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared.events import Requester
from helpline_shared.runtime.testing import StatementLog, units_of_work

pytestmark = pytest.mark.integration


async def test_one_insert_returns_a_new_or_known_requesters_origin(
    postgres: PostgresServer,
) -> None:
    url = postgres.create_database(unique_name("intake"))
    async with units_of_work(url, MIGRATIONS, metadata, IntakeUnitOfWork) as (unit_of_work, engine):
        member = await directory.save_organization(
            directory.SaveOrganization(
                tenant_id="acme", name="Customer", plan="premium", domains=["customer.example"]
            ),
            unit_of_work(),
        )
        elsewhere = await directory.save_organization(
            directory.SaveOrganization(
                tenant_id="globex", name="Globex", plan="enterprise", domains=["globex.example"]
            ),
            unit_of_work(),
        )
        log = StatementLog(engine)
        async with unit_of_work() as uow:
            first = await origin_for(
                uow, "acme", Requester(email="Cy@Customer.example", name="Cy"), language="de"
            )
            await uow.commit()
        statements = [statement.split()[0] for statement in log.statements]
        async with unit_of_work() as uow:
            again = await origin_for(uow, "acme", Requester(email="cy@customer.example", name="C"))
            await uow.commit()
        async with unit_of_work() as uow:
            stray = await origin_for(uow, "acme", Requester(email="solo@nowhere.example"))
            record = await uow.directory.requester_by_email("acme", "solo@nowhere.example")
            assert record is not None
            record.organization_id = elsewhere.id  # an id of another tenant names nothing here
            await uow.directory.save_requester(record)
            await uow.commit()
        async with unit_of_work() as uow:
            crossed = await origin_for(uow, "acme", Requester(email="solo@nowhere.example"))
        async with engine.connect() as connection:
            stored = (
                await connection.execute(
                    select(requesters.c.name).where(requesters.c.email == "cy@customer.example")
                )
            ).all()

    # One round trip for the requester (the driver's BEGIN is not a statement of its own here).
    assert statements == ["INSERT", "COMMIT"]
    assert (first.organization_id, first.plan, first.language) == (member.id, "premium", "de")
    assert (again.organization_id, again.plan, again.language) == (member.id, "premium", "de")
    assert (stray.organization_id, stray.plan) == (None, None)
    assert (crossed.organization_id, crossed.plan) == (None, None)
    assert stored == [("Cy",)]

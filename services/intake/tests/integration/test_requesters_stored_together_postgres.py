"""On PostgreSQL: the requesters of a write turn's tickets are stored in one INSERT, each answer
matched to its own requester, an address given twice (in any case) stored once: PostgreSQL
refuses a statement whose conflict meets a row it inserted itself."""

import pytest
from sqlalchemy import func, select

from helpline_devstack.postgres import PostgresServer
from helpline_devstack.testing import unique_name
from helpline_intake.adapters.orm import metadata, requesters
from helpline_intake.bootstrap import MIGRATIONS
from helpline_intake.service_layer import requesters as directory
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared.runtime.testing import StatementLog, units_of_work

pytestmark = pytest.mark.integration


async def test_one_insert_stores_a_turns_requesters_each_answered_its_own(
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
        log = StatementLog(engine)
        async with unit_of_work() as uow:
            origins = await uow.directory.requester_origins(
                [
                    ("acme", "Cy@Customer.example", "Cy", "de"),
                    ("acme", "solo@nowhere.example", None, None),
                    ("acme", "cy@customer.example", "C", None),
                    ("globex", "cy@customer.example", None, None),
                ]
            )
            await uow.commit()
        async with engine.connect() as connection:
            stored = (
                await connection.execute(select(func.count()).select_from(requesters))
            ).scalar_one()
    assert log.count("INSERT") == 1
    assert origins == [
        (member.id, "premium", "de"),
        (None, None, None),
        (member.id, "premium", "de"),
        (None, None, None),
    ]
    assert stored == 3

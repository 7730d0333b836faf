"""Several first contacts from one new address at once, on PostgreSQL's real concurrency."""

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from helpline_devstack.postgres import PostgresServer
from helpline_devstack.testing import unique_name
from helpline_intake.adapters.orm import metadata, requesters
from helpline_intake.bootstrap import MIGRATIONS
from helpline_intake.service_layer import handlers
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared.events import Requester
from helpline_shared.runtime.testing import units_of_work

pytestmark = pytest.mark.integration


async def test_simultaneous_first_tickets_share_one_requester(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    # Found by the pipeline benchmark: the second insert of the same new address raised a
    # unique violation and the API answered 500.
    url = postgres.create_database(unique_name("intake"))
    async with units_of_work(url, MIGRATIONS, metadata, IntakeUnitOfWork) as (uow, engine):
        opened = await asyncio.gather(
            *(
                handlers.open_ticket(
                    handlers.OpenTicket(
                        tenant_id="acme",
                        subject=f"Export fails {index}",
                        description="since 4.2",
                        requester=Requester(email="New.Person@example.org"),
                        priority="normal",
                        type="corrective",
                        tags=[],
                        channel="api",
                    ),
                    uow(),
                )
                for index in range(12)
            )
        )
        async with engine.connect() as connection:
            count = await connection.scalar(select(func.count()).select_from(requesters))

    assert len({ticket.id for ticket in opened}) == 12
    assert count == 1

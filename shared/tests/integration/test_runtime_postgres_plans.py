"""A service's PostgreSQL connections plan each statement for its parameters and the tables as
they are now, not once for the tables as they were when the service started."""

import pytest
from runtime_support import RuntimeDatabase
from sqlalchemy import text

from helpline_devstack.postgres import PostgresServer
from helpline_devstack.testing import unique_name
from helpline_shared.runtime.db import create_engine

pytestmark = pytest.mark.integration


async def test_statements_are_planned_for_each_execution(postgres_runtime: RuntimeDatabase) -> None:
    # A generic plan kept from an empty outbox scanned all of it at every mark-sent.
    async with postgres_runtime.engine.connect() as connection:
        assert await connection.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"


async def test_the_callers_server_settings_win(postgres: PostgresServer) -> None:
    engine = create_engine(
        postgres.create_database(unique_name("plans")),
        connect_args={"server_settings": {"plan_cache_mode": "auto"}},
    )
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(text("SHOW plan_cache_mode")) == "auto"
    finally:
        await engine.dispose()

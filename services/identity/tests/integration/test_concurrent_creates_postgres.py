"""Concurrent creates of one tenant, team or email on PostgreSQL, where transactions overlap."""

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))

from identity_support import UnitOfWorkFactory
from sqlalchemy.ext.asyncio import AsyncEngine
from test_identity_concurrent_creates import (
    acme,
    test_concurrent_changes_to_one_email_change_one,
    test_concurrent_creates_of_one_team_create_it_once,
    test_concurrent_creates_of_one_tenant_create_it_once,
    test_concurrent_users_with_one_email_create_one,
)

from helpline_devstack.postgres import PostgresServer
from helpline_devstack.testing import unique_name
from helpline_identity.adapters.orm import metadata
from helpline_identity.bootstrap import MIGRATIONS
from helpline_identity.service_layer.unit_of_work import IdentityUnitOfWork
from helpline_shared.runtime.testing import units_of_work

__all__ = [
    "acme",
    "test_concurrent_changes_to_one_email_change_one",
    "test_concurrent_creates_of_one_team_create_it_once",
    "test_concurrent_creates_of_one_tenant_create_it_once",
    "test_concurrent_users_with_one_email_create_one",
]


@pytest.fixture
async def database(
    postgres: PostgresServer,
) -> AsyncIterator[tuple[UnitOfWorkFactory, AsyncEngine]]:
    url = postgres.create_database(unique_name("identity"))
    async with units_of_work(url, MIGRATIONS, metadata, IdentityUnitOfWork) as made:
        yield made

"""Fixtures: identity's API on a migrated SQLite file, an operator key, a tenant with an admin."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from identity_support import Clock, IdentityApi, UnitOfWorkFactory
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_identity.adapters.orm import metadata
from helpline_identity.bootstrap import MIGRATIONS
from helpline_identity.service_layer.unit_of_work import IdentityUnitOfWork
from helpline_shared.runtime.testing import sqlite_units_of_work


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[tuple[UnitOfWorkFactory, AsyncEngine]]:
    """A unit-of-work factory and engine on a fresh migrated database."""
    async with sqlite_units_of_work(
        tmp_path / "identity.db", MIGRATIONS, metadata, IdentityUnitOfWork
    ) as made:
        yield made


@pytest.fixture
def clock() -> Clock:
    """Identity's clock, moved by the test."""
    return Clock()


@pytest.fixture
async def identity(
    database: tuple[UnitOfWorkFactory, AsyncEngine], clock: Clock
) -> AsyncIterator[IdentityApi]:
    """Identity's routes over ASGI, with tenant ``acme`` and its admin signed in."""
    unit_of_work, engine = database
    app = IdentityApi.app(unit_of_work, clock)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
        api = IdentityApi(client, engine, clock)
        await api.create_tenant("acme", admin_email="root@acme.test")
        api.admin = await api.login("acme", "root@acme.test")
        yield api

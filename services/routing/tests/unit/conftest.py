"""Routing's unit tests import their builders from ``routing_support`` next to this file."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from routing_support import Database, Replicas

from helpline_routing.adapters.orm import metadata
from helpline_routing.bootstrap import MIGRATIONS
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared.runtime.testing import sqlite_units_of_work, units_of_work


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[Replicas]:
    """Two routing processes on one database: each keeps its own caches (pools, rules)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'routing.db'}"
    async with (
        units_of_work(url, MIGRATIONS, metadata, RoutingUnitOfWork) as (first, engine),
        units_of_work(url, None, metadata, RoutingUnitOfWork) as (second, _engine),
    ):
        yield first, second, engine


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    """Routing's units of work on a migrated SQLite database, and its engine."""
    async with sqlite_units_of_work(
        tmp_path / "routing.db", MIGRATIONS, metadata, RoutingUnitOfWork
    ) as made:
        yield made

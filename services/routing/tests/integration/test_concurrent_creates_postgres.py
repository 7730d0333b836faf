"""Concurrent creates and replacements in routing's API on PostgreSQL: transactions overlap."""

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))

from routing_support import Database
from test_routing_concurrent_creates import (
    routing,
    test_concurrent_first_settings_and_account_managers_are_each_stored,
    test_concurrent_links_of_agents_to_one_user_link_one,
    test_concurrent_registrations_of_one_user_create_one_agent,
    test_concurrent_rule_sets_are_each_a_version,
)

from helpline_devstack.postgres import PostgresServer
from helpline_devstack.testing import unique_name
from helpline_routing.adapters.orm import metadata
from helpline_routing.bootstrap import MIGRATIONS
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared.runtime.testing import units_of_work

__all__ = [
    "routing",
    "test_concurrent_first_settings_and_account_managers_are_each_stored",
    "test_concurrent_links_of_agents_to_one_user_link_one",
    "test_concurrent_registrations_of_one_user_create_one_agent",
    "test_concurrent_rule_sets_are_each_a_version",
]


@pytest.fixture
async def database(postgres: PostgresServer) -> AsyncIterator[Database]:
    url = postgres.create_database(unique_name("routing"))
    async with units_of_work(url, MIGRATIONS, metadata, RoutingUnitOfWork) as made:
        yield made

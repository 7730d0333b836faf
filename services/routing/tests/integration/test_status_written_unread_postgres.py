"""The status written unread, on PostgreSQL: its UPDATE is written for each dialect."""

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))

from routing_support import Database
from test_status_written_unread import (
    test_a_row_that_disagrees_is_read_and_its_capacity_released,
    test_a_second_status_in_the_batch_sees_the_first,
    test_a_status_of_a_ticket_never_routed_changes_nothing,
    test_new_to_open_is_one_update_for_the_batch,
)

from helpline_devstack.postgres import PostgresServer
from helpline_devstack.testing import unique_name
from helpline_routing.adapters.orm import metadata
from helpline_routing.bootstrap import MIGRATIONS
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared.runtime.testing import units_of_work

__all__ = [
    "test_a_row_that_disagrees_is_read_and_its_capacity_released",
    "test_a_second_status_in_the_batch_sees_the_first",
    "test_a_status_of_a_ticket_never_routed_changes_nothing",
    "test_new_to_open_is_one_update_for_the_batch",
]


@pytest.fixture
async def database(postgres: PostgresServer) -> AsyncIterator[Database]:
    url = postgres.create_database(unique_name("routing"))
    async with units_of_work(url, MIGRATIONS, metadata, RoutingUnitOfWork) as made:
        yield made

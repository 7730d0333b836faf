"""Escalation's round trips on PostgreSQL: the tickets admitted, the clocks added and the cycles
recorded by a batch are one statement whose text is the same for any batch (was one of each)."""

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))

from escalation_support import UnitOfWorkFactory, status_changed, ticket_created, unit_of_work_on
from test_written_behind import (
    consume,
    test_a_ticket_created_again_under_another_event_id_is_admitted_once,
)

from helpline_devstack.postgres import PostgresServer
from helpline_devstack.testing import unique_name
from helpline_escalation.adapters.orm import sla_clocks, sla_cycles, sla_tickets
from helpline_escalation.bootstrap import MIGRATIONS
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared.runtime.db import create_engine
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.testing import StatementLog

__all__ = ["test_a_ticket_created_again_under_another_event_id_is_admitted_once"]


@pytest.fixture
async def engine(postgres: PostgresServer) -> AsyncIterator[AsyncEngine]:
    url = postgres.create_database(unique_name("escalation"))
    await asyncio.to_thread(upgrade, MIGRATIONS, url)
    engine = create_engine(url)
    yield engine
    await engine.dispose()


@pytest.fixture
def unit_of_work(engine: AsyncEngine) -> UnitOfWorkFactory:
    return lambda: unit_of_work_on(engine, EscalationUnitOfWork)


def writes(statements: list[str]) -> list[str]:
    return [s for s in statements if s.startswith(("INSERT", "UPDATE", "WITH", "DELETE"))]


async def test_new_tickets_their_clocks_and_cycles_are_one_statement_of_one_text(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    log = StatementLog(engine)
    texts: dict[int, set[str]] = {}
    for size in (1, 5):
        log.clear()
        await consume(unit_of_work, [ticket_created(f"t{size}-{n}") for n in range(size)])
        ours = [s for s in writes(log.statements) if "sla_" in s]
        # Was an INSERT INTO sla_tickets, one INTO sla_clocks and one INTO sla_cycles.
        assert len(ours) == 1
        assert "INSERT INTO sla_tickets" in ours[0] and "INSERT INTO sla_clocks" in ours[0]
        texts[size] = set(log.statements)
    assert texts[5] - texts[1] == set()
    async with engine.connect() as connection:
        tickets = (await connection.execute(select(sla_tickets))).all()
        clocks = (await connection.execute(select(sla_clocks))).all()
        cycles = (await connection.execute(select(sla_cycles))).all()
    assert len(tickets) == len(clocks) == len(cycles) == 6
    assert all(isinstance(clock.history, list) and isinstance(clock.sent, list) for clock in clocks)


async def test_clocks_stopped_later_are_written_back_with_their_cycles(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    ids = [f"t-{n}" for n in range(3)]
    await consume(unit_of_work, [ticket_created(ticket_id) for ticket_id in ids])
    await consume(unit_of_work, [status_changed(ticket_id, status="solved") for ticket_id in ids])
    async with engine.connect() as connection:
        clocks = (await connection.execute(select(sla_clocks))).all()
        cycles = (await connection.execute(select(sla_cycles))).all()
    assert all(clock.stopped_at is not None for clock in clocks)
    assert all(cycle.stopped_at is not None for cycle in cycles)
    assert len(cycles) == 3

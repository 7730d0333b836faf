"""The queue filters, SLA sort and backlog on PostgreSQL: same answers as on SQLite, by index.

Revision 0006 runs on a database holding tickets (their derived columns filled in), then
10,000 tickets of one tenant are listed by every filter and sort, paged by cursor, and counted.
"""

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from helpline_devstack.postgres import PostgresServer
from helpline_devstack.testing import unique_name
from helpline_intake.adapters.orm import metadata, tickets
from helpline_intake.adapters.repository import (
    NO_DEADLINE,
    Position,
    TicketFilter,
    TicketSort,
    decode_cursor,
    derived_values,
    encode_cursor,
    page_query,
)
from helpline_intake.bootstrap import MIGRATIONS
from helpline_intake.service_layer import reports
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.testing import units_of_work

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TICKETS = 10_000


def _row(number: int, tenant: str) -> dict[str, Any]:
    created = NOW - timedelta(days=30) + timedelta(minutes=number)
    sla: dict[str, dict[str, Any]] = {}
    if number % 3 == 0:
        sla["first_response"] = {
            "state": "running",
            "clock_version": 1,
            "deadline": (NOW + timedelta(minutes=number % 500)).isoformat(),
        }
    elif number % 17 == 0:
        sla["first_response"] = {
            "state": "breached",
            "breached": True,
            "clock_version": 1,
            "deadline": (NOW - timedelta(hours=1)).isoformat(),
        }
    row = {
        "id": f"{tenant}-{number:06d}",
        "tenant_id": tenant,
        "subject": f"Question {number}",
        "description": "details",
        "requester_email": f"customer-{number % 1000}@example.org",
        "requester_name": f"Customer {number}",
        "priority": "normal",
        "type": "question",
        "tags": [],
        "channel": "api",
        "status": "open" if number % 4 else "solved",
        "assignee_id": None if number % 5 else f"agent-{number % 20}",
        "sla": sla,
        "created_at": created,
        "updated_at": created,
        "organization_id": None,
        "mailbox": None,
        "merged_into_id": None,
        "tag_index": "",
        "team": f"team-{number % 8}" if number % 7 else None,
    }
    row.update(derived_values(row))
    return row


def _legacy(row: dict[str, Any]) -> dict[str, Any]:
    kept = {
        key: value
        for key, value in row.items()
        if key not in ("team", "next_deadline", "due_order", "sla_breached", "search_text")
    }
    return kept


async def test_revision_0006_fills_the_derived_columns_of_existing_tickets(
    postgres: PostgresServer,
) -> None:
    url = postgres.create_database(unique_name("intake"))
    await asyncio.to_thread(upgrade, MIGRATIONS, url, "0005")
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        # Only the columns revision 0005 has: the insert names no other.
        await connection.execute(
            sa.insert(tickets), [_legacy(_row(number, "acme")) for number in (0, 1, 17)]
        )
    await engine.dispose()
    await asyncio.to_thread(upgrade, MIGRATIONS, url)
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        rows = {row.id: row for row in await connection.execute(sa.select(tickets))}
    await engine.dispose()
    assert rows["acme-000000"].next_deadline == NOW
    assert rows["acme-000001"].due_order == NO_DEADLINE and not rows["acme-000001"].sla_breached
    assert rows["acme-000017"].sla_breached
    assert rows["acme-000001"].search_text == "question 1\ncustomer-1@example.org\ncustomer 1"


async def test_filters_sorts_and_backlog_on_ten_thousand_tickets(postgres: PostgresServer) -> None:
    url = postgres.create_database(unique_name("intake"))
    async with units_of_work(url, MIGRATIONS, metadata, IntakeUnitOfWork) as (uow, engine):
        rows = [_row(number, "acme") for number in range(TICKETS)]
        async with engine.begin() as connection:
            await connection.execute(sa.insert(tickets), rows)
            await connection.execute(
                sa.insert(tickets), [_row(number, "globex") for number in range(500)]
            )
            await connection.execute(sa.text("ANALYZE tickets"))

        cases: list[tuple[TicketFilter, TicketSort, list[str]]] = [
            (
                TicketFilter(unassigned=True),
                "created",
                [row["id"] for row in rows if row["assignee_id"] is None],
            ),
            (
                TicketFilter(team="team-3"),
                "created",
                [row["id"] for row in rows if row["team"] == "team-3"],
            ),
            (
                TicketFilter(sla="breached"),
                "created",
                [row["id"] for row in rows if row["sla_breached"]],
            ),
            (
                TicketFilter(sla="at_risk", now=NOW),
                "created",
                [row["id"] for row in rows if row["due_order"] <= NOW + timedelta(hours=1)],
            ),
            (
                TicketFilter(text="CUSTOMER-77@"),
                "created",
                [row["id"] for row in rows if "customer-77@" in row["search_text"]],
            ),
            (
                TicketFilter(text="Customer 1234"),
                "created",
                [row["id"] for row in rows if "customer 1234" in row["search_text"]],
            ),
            (
                TicketFilter(team="team-5"),
                "sla",
                [
                    row["id"]
                    for row in sorted(
                        rows, key=lambda item: (item["due_order"], item["created_at"], item["id"])
                    )
                    if row["team"] == "team-5"
                ],
            ),
        ]
        timings: dict[str, float] = {}
        for where, sort, expected in cases:
            seen: list[str] = []
            after: Position | None = None
            slowest = 0.0
            while True:
                async with uow().read_only() as unit:
                    started = time.perf_counter()
                    page = await unit.tickets.page(
                        "acme", limit=200, after=after, where=where, sort=sort
                    )
                    slowest = max(slowest, time.perf_counter() - started)
                if not page:
                    break
                seen.extend(ticket.id for ticket in page)
                after = decode_cursor(encode_cursor(page[-1], sort), sort)
            assert seen == expected, where
            timings[_label(where, sort)] = slowest

        started = time.perf_counter()
        report = await reports.backlog(uow(), "acme", NOW)
        timings["backlog"] = time.perf_counter() - started
        plans = {}
        async with engine.connect() as connection:
            for where, sort, _ in cases:
                sent: list[tuple[str, Any]] = []

                def record(*args: Any, sent: list[tuple[str, Any]] = sent) -> None:
                    sent.append((args[2], args[3]))

                sa.event.listen(connection.sync_connection, "before_cursor_execute", record)
                await connection.execute(page_query("acme", limit=26, where=where, sort=sort))
                sa.event.remove(connection.sync_connection, "before_cursor_execute", record)
                [(statement, parameters)] = sent
                explained = await connection.exec_driver_sql(
                    "EXPLAIN ANALYZE " + statement, parameters
                )
                plans[_label(where, sort)] = "\n".join(str(row[0]) for row in explained)
    print("\nslowest page, seconds:", {key: round(value, 4) for key, value in timings.items()})
    for key, plan in plans.items():
        print(f"\n{key}\n{plan}")
    open_rows = [row for row in rows if row["status"] == "open"]
    assert report.open == len(open_rows)
    assert report.unassigned == sum(row["assignee_id"] is None for row in open_rows)
    assert report.breached == sum(row["sla_breached"] for row in open_rows)
    assert report.by_status["solved"] == TICKETS - len(open_rows)
    assert sum(team.open for team in report.by_team) == report.open
    assert all(value < 1.0 for value in timings.values()), timings
    # Every list reads by an index; a search may read the table: at 10,000 rows the planner
    # rightly prefers that to the trigram index (which it takes from about 100,000 on).
    assert not [key for key, plan in plans.items() if "Seq Scan" in plan and "'text'" not in key], (
        plans
    )


def _label(where: TicketFilter, sort: TicketSort) -> str:
    shown = {key: value for key, value in vars(where).items() if value is not None and key != "now"}
    return f"{shown} sort={sort}"

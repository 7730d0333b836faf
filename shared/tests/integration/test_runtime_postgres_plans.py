"""Lookups by key keep reading their index under a plan made while their table was empty.

asyncpg prepares each statement once per connection, and after five executions PostgreSQL may
keep a generic plan, costed on the tables of that moment: a service that starts on an empty
outbox keeps the plan made for it. At the default random_page_cost of 4, ``event_id =
ANY(...)`` got a sequential scan there, kept while the outbox grew (a burst of 3,000 on
PostgreSQL: 17 ms a commit in intake). Each statement is prepared here on a service's
connection while the outbox is empty, its generic plan forced, then explained once the outbox
holds 20,000 rows: the commit's statement, the relay's mark-sent and a plain lookup by key.
"""

import json

import pytest
from runtime_support import RuntimeDatabase, inbox, outbox
from sqlalchemy import ARRAY, String, any_, bindparam, text, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement

from helpline_devstack.postgres import PostgresServer, plan_nodes
from helpline_devstack.testing import unique_name
from helpline_shared.runtime.db import create_engine, utcnow
from helpline_shared.runtime.outbox import mark_sent
from helpline_shared.runtime.uow import _claim_stage_and_mark

pytestmark = pytest.mark.integration

GROWN = 20_000

MARKED = "'{event-5000,event-7000}'"
"""Two of the rows left unsent."""
COMMIT = {
    "consumer": "'routing'",
    "now": "now()",
    "claimed": "'{}'",
    "event_ids": "'{}'",
    "topics": "'{}'",
    "record_keys": "'{}'",
    "record_values": "'{}'",
    "headers": "'{}'",
    "created": "'{}'",
    "sent": MARKED,
}
RELAY = {"event_ids": MARKED, "now": "now()"}
BY_KEY = (
    update(outbox)
    .where(outbox.c.event_id == any_(bindparam("event_ids", type_=ARRAY(String))))
    .values(sent_at=bindparam("now"))
)
"""A lookup by key and nothing else."""


async def _prepare(
    connection: AsyncConnection, name: str, statement: ClauseElement, values: dict[str, str]
) -> str:
    """PREPARE ``statement`` as ``name``; the arguments of an EXECUTE of it, in order."""
    compiled = statement.compile(dialect=connection.dialect)
    await connection.exec_driver_sql(f"PREPARE {name} AS {compiled}")
    return ", ".join(values[parameter] for parameter in compiled.positiontup or [])


@pytest.mark.parametrize(
    ("statement", "values"),
    [
        (_claim_stage_and_mark(outbox, inbox), COMMIT),
        (mark_sent(outbox, "postgresql"), RELAY),
        (BY_KEY, RELAY),
    ],
    ids=["commit", "relay", "by key"],
)
async def test_a_plan_made_on_an_empty_outbox_reads_an_index_once_it_grew(
    postgres_runtime: RuntimeDatabase, statement: ClauseElement, values: dict[str, str]
) -> None:
    async with postgres_runtime.engine.connect() as connection:
        await connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        arguments = await _prepare(connection, "marking", statement, values)
        await connection.exec_driver_sql(f"EXECUTE marking({arguments})")  # planned: empty
        await connection.execute(
            text(
                "INSERT INTO outbox (event_id, topic, record_key, record_value, headers,"
                " created_at, sent_at)"
                " SELECT 'event-' || n, 't', '\\x00', '\\x00', '[]', now(),"
                " CASE WHEN n % 1000 = 0 THEN NULL ELSE now() END"
                " FROM generate_series(1, :rows) AS n"
            ),
            {"rows": GROWN},
        )
        result = await connection.exec_driver_sql(
            f"EXPLAIN (FORMAT JSON) EXECUTE marking({arguments})"
        )
        plan = result.scalar_one()
        await connection.rollback()

    nodes = plan_nodes(json.loads(plan) if isinstance(plan, str) else plan)
    scans = [
        (node["Node Type"], node["Relation Name"]) for node in nodes if "Relation Name" in node
    ]
    assert [scan for scan in scans if scan[1] == "outbox"], scans
    assert ("Seq Scan", "outbox") not in scans, scans


async def test_the_callers_server_settings_win(postgres: PostgresServer) -> None:
    engine = create_engine(
        postgres.create_database(unique_name("plans")),
        connect_args={"server_settings": {"random_page_cost": "4"}},
    )
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(text("SHOW random_page_cost")) == "4"
    finally:
        await engine.dispose()


async def test_a_commit_under_an_unsent_backlog_does_not_read_the_backlog(
    postgres_runtime: RuntimeDatabase,
) -> None:
    # A broker outage leaves thousands of rows unsent while commits go on (marking nothing).
    # Statistics taken when all was sent made a mark-sent that also named ``sent_at IS NULL``
    # walk the unsent index, every unsent row, at every commit.
    rows = (
        "INSERT INTO outbox (event_id, topic, record_key, record_value, headers, created_at,"
        " sent_at) SELECT :prefix || n, 't', '\\x00', '\\x00', '[]', now(), :sent"
        " FROM generate_series(1, :rows) AS n"
    )
    async with postgres_runtime.engine.begin() as connection:
        await connection.execute(text(rows), {"prefix": "sent-", "sent": utcnow(), "rows": GROWN})
    async with postgres_runtime.engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.exec_driver_sql("ANALYZE outbox")
    async with postgres_runtime.engine.connect() as connection:
        await connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        nothing = COMMIT | {"sent": "'{}'"}
        arguments = await _prepare(
            connection, "marking", _claim_stage_and_mark(outbox, inbox), nothing
        )
        await connection.exec_driver_sql(f"EXECUTE marking({arguments})")
        await connection.execute(text(rows), {"prefix": "unsent-", "sent": None, "rows": GROWN})
        result = await connection.exec_driver_sql(
            f"EXPLAIN (FORMAT JSON) EXECUTE marking({arguments})"
        )
        plan = result.scalar_one()
        await connection.rollback()

    nodes = plan_nodes(json.loads(plan) if isinstance(plan, str) else plan)
    indexes = [node["Index Name"] for node in nodes if "Index Name" in node]
    assert "ix_outbox_unsent" not in indexes, indexes

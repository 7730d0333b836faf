"""What the benchmark's PostgreSQL ran, per service database: statements per ticket, texts, time.

``pipeline.py --pg-statements`` loads ``pg_stat_statements`` into the bench cluster (a restart)
and, after the run, reads it for every database of the run: each service's calls per ticket
(every execution, BEGIN and COMMIT included; an asyncpg executemany counts each row), its
distinct texts (a text that varies with the batch size shows up as many texts of few calls),
its execution time per ticket and its busiest statements. Without the flag the library is
unloaded again at the next start, so an ordinary run pays nothing for it.

Every run records the cluster's settings that matter to this workload (``settings``).
"""

import json
import subprocess
from typing import Any

from helpline_devstack.postgres import HOST, USER, PostgresServer, find_bin_dir

LIBRARY = "pg_stat_statements"
SETTINGS = (
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "max_connections",
    "fsync",
    "synchronous_commit",
    "wal_level",
    "max_wal_size",
    "checkpoint_timeout",
    "random_page_cost",
    "jit",
    "shared_preload_libraries",
)


def _sql(server: PostgresServer, query: str) -> str:
    psql = [str(find_bin_dir() / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
    where = ["-h", HOST, "-p", str(server.port), "-U", USER, "-d", "postgres"]
    result = subprocess.run(
        [*psql, *where, "-c", query],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def drop_earlier_runs(server: PostgresServer, stem: str) -> None:
    """Drop the databases earlier runs left in the bench cluster (``{stem}_*``; each run's are
    kept until the next, to be read after it). They are not free: autovacuum's launcher visits
    every database once a minute, a new worker process each time, counted as PostgreSQL's CPU
    (about 10 ms a second with a hundred of them left, with nothing running)."""
    psql = [str(find_bin_dir() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1"]
    where = ["-h", HOST, "-p", str(server.port), "-U", USER, "-d", "postgres"]
    pattern = stem.replace("_", "\\_") + "\\_%"
    subprocess.run(
        [*psql, *where],
        input=(
            "SELECT format('DROP DATABASE %I', datname) FROM pg_database"
            f" WHERE datname LIKE '{pattern}' \\gexec\n"
        ),
        capture_output=True,
        text=True,
        check=True,
    )


def _loaded(server: PostgresServer) -> bool:
    return LIBRARY in _sql(server, "SHOW shared_preload_libraries")


def prepare(server: PostgresServer, wanted: bool) -> None:
    """Load ``pg_stat_statements`` (``wanted``) or unload it, restarting the running cluster
    when that changes; with it, start counting from zero."""
    if _loaded(server) != wanted:
        if wanted:
            _sql(server, f"ALTER SYSTEM SET shared_preload_libraries = '{LIBRARY}'")
        else:
            _sql(server, "ALTER SYSTEM RESET shared_preload_libraries")
        server.stop()
        server.start()
    if wanted:
        _sql(server, f"CREATE EXTENSION IF NOT EXISTS {LIBRARY}")
        _sql(server, "SELECT pg_stat_statements_reset()")


def settings(server: PostgresServer) -> dict[str, str]:
    """The cluster's settings of ``SETTINGS`` (with their units)."""
    names = ", ".join(f"'{name}'" for name in SETTINGS)
    rows = _sql(
        server,
        "SELECT json_object_agg(name, setting || coalesce(' ' || unit, ''))"
        f" FROM pg_settings WHERE name IN ({names})",
    )
    found: dict[str, str] = json.loads(rows)
    return found


def per_database(server: PostgresServer, stem: str, tickets: int, top: int = 12) -> dict[str, Any]:
    """Per service database ``{stem}_<service>``: calls, texts and execution time per ticket,
    the buffer cache hit ratio, and the ``top`` statements by calls."""
    query = f"""
        WITH s AS (
            SELECT d.datname, s.query, s.calls, s.total_exec_time, s.rows
            FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
            WHERE d.datname LIKE '{stem}\\_%'
        ), ranked AS (
            SELECT *, row_number() OVER (PARTITION BY datname ORDER BY calls DESC) AS n FROM s
        )
        SELECT json_object_agg(datname, service) FROM (
            SELECT datname, json_build_object(
                'calls', sum(calls), 'texts', count(*),
                'exec_ms', round(sum(total_exec_time)::numeric, 1),
                'top', json_agg(json_build_object(
                    'calls', calls, 'exec_ms', round(total_exec_time::numeric, 1), 'rows', rows,
                    'query', left(regexp_replace(query, '\\s+', ' ', 'g'), 200)
                ) ORDER BY calls DESC) FILTER (WHERE n <= {top})
            ) AS service
            FROM ranked GROUP BY datname
        ) per_service
    """
    found = json.loads(_sql(server, query) or "{}") or {}
    hits = json.loads(
        _sql(
            server,
            "SELECT json_object_agg(datname, json_build_object('hit', blks_hit, 'read', blks_read))"
            f" FROM pg_stat_database WHERE datname LIKE '{stem}\\_%'",
        )
        or "{}"
    )
    summary: dict[str, Any] = {"tickets": tickets}
    for database, service in sorted(found.items()):
        name = database.removeprefix(f"{stem}_")
        blocks = hits.get(database) or {"hit": 0, "read": 0}
        summary[name] = {
            "calls_per_ticket": round(service["calls"] / tickets, 2),
            "texts": service["texts"],
            "exec_ms_per_ticket": round(float(service["exec_ms"]) / tickets, 3),
            "cache_hit_ratio": round(blocks["hit"] / max(1, blocks["hit"] + blocks["read"]), 4),
            "top": [
                dict(row, calls_per_ticket=round(row["calls"] / tickets, 2))
                for row in service["top"]
            ],
        }
    return summary


def show(summary: dict[str, Any]) -> None:
    """Print each service's statements per ticket and its busiest statements."""
    print(f"  PostgreSQL statements over {summary['tickets']} tickets:")
    for name, service in summary.items():
        if name == "tickets":
            continue
        print(
            f"    {name}: {service['calls_per_ticket']} calls/ticket, {service['texts']} texts,"
            f" {service['exec_ms_per_ticket']} ms executing/ticket,"
            f" cache hits {service['cache_hit_ratio']}"
        )
        for row in service["top"]:
            print(
                f"      {row['calls_per_ticket']:>6} {row['exec_ms']:>8} ms  {row['query'][:110]}"
            )

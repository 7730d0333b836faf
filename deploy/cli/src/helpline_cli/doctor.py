"""``helpline doctor``: checks Kafka, topics, databases and migrations, one line per finding."""

import asyncio
import importlib.util
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.errors import SaslAuthenticationFailed, TopicAuthorizationFailedError
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from helpline_cli.settings import SERVICES, CliSettings
from helpline_shared.kafka_security import KafkaSecurity, aiokafka_options
from helpline_shared.runtime.migrations import alembic_config
from helpline_shared.topics import all_topics


@dataclass(frozen=True)
class Finding:
    """One result of a check: ``ok`` or a problem, said in one line."""

    ok: bool
    line: str


async def check_kafka(settings: CliSettings) -> list[Finding]:
    """Whether the broker answers and lets us in, and whether every Helpline topic exists."""
    servers = settings.kafka_bootstrap_servers
    security = settings.kafka_security()
    admin = AIOKafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=5000,
                                client_id="helpline-doctor", **aiokafka_options(security))
    try:
        await asyncio.wait_for(admin.start(), settings.timeout)
        existing = set(await asyncio.wait_for(admin.list_topics(), settings.timeout))
        wanted = [settings.topic_prefix + topic for topic in all_topics()]
        missing = [topic for topic in wanted if topic not in existing]
        hidden = await _unauthorized(admin, missing, settings.timeout)
    except Exception:  # noqa: BLE001 - any failure is explained by a probe, in one line
        return [await _connection_problem(servers, security, settings.timeout)]
    finally:
        await admin.close()
    findings = [Finding(True, f"kafka: broker at {servers} answers ({security.protocol}, "
                              f"as {security.principal})")]
    findings += [Finding(False, f"topic {topic}: {security.principal} is not authorized to "
                                "describe it (no ACL allows it; see the KafkaUser of this "
                                "principal)") for topic in missing if topic in hidden]
    findings += [Finding(False, f"topic {topic} is missing: create it (the chart's KafkaTopic "
                                f"resources, or kafka-topics.sh --create)")
                 for topic in missing if topic not in hidden]
    if not missing:
        findings.append(Finding(True, f"topics: all {len(wanted)} present"))
    return findings


async def _unauthorized(admin: AIOKafkaAdminClient, topics: list[str], timeout: float
                        ) -> set[str]:
    """Those of ``topics`` the broker refuses to describe to us (rather than not having)."""
    if not topics:
        return set()
    described = await asyncio.wait_for(admin.describe_topics(topics), timeout)
    return {item["topic"] for item in described
            if item["error_code"] == TopicAuthorizationFailedError.errno}


async def _connection_problem(servers: str, security: KafkaSecurity, timeout: float
                              ) -> Finding:
    """Why the first bootstrap server does not let us in, said in one line."""
    host, _, port = servers.split(",")[0].strip().rpartition(":")
    try:
        connection = await asyncio.wait_for(
            create_conn(host, int(port), client_id="helpline-doctor", request_timeout_ms=5000,
                        **aiokafka_options(security)), timeout)
        connection.close()
    except SaslAuthenticationFailed:
        return Finding(False, f"kafka: authentication failed: the broker at {servers} refused "
                              f"{security.principal} ({security.sasl_mechanism}: wrong password "
                              "or no such user; HELPLINE_KAFKA_SASL_USERNAME/_PASSWORD)")
    except ssl.SSLCertVerificationError as error:
        return Finding(False, f"kafka: the certificate of the broker at {servers} is not "
                              f"trusted ({error.verify_message}; HELPLINE_KAFKA_SSL_CA_FILE)")
    except OSError as error:
        return Finding(False, f"kafka: cannot reach the broker at {servers} "
                              f"({type(error).__name__}); is it running?")
    except Exception as error:  # noqa: BLE001 - reported in one line
        return Finding(False, f"kafka: the broker at {servers} closed the connection "
                              f"({type(error).__name__}): does its listener take "
                              f"{security.protocol} (HELPLINE_KAFKA_SECURITY_PROTOCOL)?")
    return Finding(False, f"kafka: the broker at {servers} lets {security.principal} in but "
                          "does not answer metadata requests")


def migrations_folder(service: str) -> Path | None:
    """The Alembic folder of ``service``'s installed package, without importing the service."""
    spec = importlib.util.find_spec(f"helpline_{service}")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "migrations"


async def check_database(service: str, url: str, timeout: float) -> Finding:
    """Whether ``service``'s database answers and is at its migration head."""
    folder = migrations_folder(service)
    engine = create_async_engine(url, poolclass=pool.NullPool)

    def current_revisions(connection: Connection) -> set[str]:
        return set(MigrationContext.configure(connection).get_current_heads())

    try:
        async with asyncio.timeout(timeout), engine.connect() as connection:
            current = await connection.run_sync(current_revisions)
    except Exception as error:  # noqa: BLE001 - reported in one line, not raised
        return Finding(False, f"database of {service}: cannot connect "
                              f"({type(error).__name__}: {str(error).splitlines()[0][:120]})")
    finally:
        await engine.dispose()
    if folder is None:
        return Finding(True, f"database of {service}: reachable (helpline-{service} is not "
                             "installed here, so its migrations were not compared)")
    script = ScriptDirectory.from_config(alembic_config(folder, url))
    heads = set(script.get_heads())
    if current == heads:
        return Finding(True, f"database of {service}: reachable, migrations at head "
                             f"{', '.join(sorted(heads))}")
    pending = _pending_count(script, current, heads)
    return Finding(False, f"database of {service}: {pending} migration(s) pending (at "
                          f"{', '.join(sorted(current)) or 'none'}, head "
                          f"{', '.join(sorted(heads))}); run: python -m helpline_{service} migrate")


def _pending_count(script: ScriptDirectory, current: set[str], heads: set[str]) -> int:
    applied: set[str] = set()
    for revision in current:
        applied |= {r.revision for r in script.iterate_revisions(revision, "base")}
    wanted: set[str] = set()
    for head in heads:
        wanted |= {r.revision for r in script.iterate_revisions(head, "base")}
    return len(wanted - applied)


async def diagnose(settings: CliSettings) -> list[Finding]:
    """Every check, in order: Kafka and topics, then each configured database."""
    # aiokafka logs each failed connection attempt; the finding already says it in one line.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    findings = await check_kafka(settings)
    configured = [(s, settings.database_url(s)) for s in SERVICES]
    for service, url in configured:
        if url:
            findings.append(await check_database(service, url, settings.timeout))
    if not any(url for _service, url in configured):
        findings.append(Finding(True, "databases: none configured (set HELPLINE_<SERVICE>_"
                                      "DATABASE_URL to check them)"))
    return findings

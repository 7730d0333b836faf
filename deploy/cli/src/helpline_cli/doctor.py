"""``helpline doctor``: checks the whole deployment, one line per finding."""

import asyncio
import importlib.util
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.errors import SaslAuthenticationFailed, TopicAuthorizationFailedError
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from helpline_cli.lag import consumer_lag, service_groups, topic_depths
from helpline_cli.settings import SERVICES, CliSettings
from helpline_shared.kafka_security import KafkaSecurity, aiokafka_options
from helpline_shared.runtime.migrations import alembic_config
from helpline_shared.topics import DEAD_LETTER_SUFFIX, all_topics


@dataclass(frozen=True)
class Limits:
    """How much is still healthy: above these, doctor reports a problem."""

    max_lag: int = 1000
    """Records a consumer group may be behind, summed over its partitions."""
    max_dead_letters: int = 0
    """Records a dead-letter topic may hold."""
    max_outbox_backlog: int = 100
    """Unpublished outbox rows a service's database may hold."""


@dataclass(frozen=True)
class Finding:
    """One result of a check: ``ok`` or a problem, said in one line."""

    ok: bool
    line: str


async def check_kafka(settings: CliSettings) -> list[Finding]:
    """Whether the broker answers and lets us in, and whether every Helpline topic exists."""
    servers = settings.kafka_bootstrap_servers
    security = settings.kafka_security()
    admin = AIOKafkaAdminClient(
        bootstrap_servers=servers,
        request_timeout_ms=5000,
        client_id="helpline-doctor",
        **aiokafka_options(security),
    )
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
    findings = [
        Finding(
            True,
            f"kafka: broker at {servers} answers ({security.protocol}, as {security.principal})",
        )
    ]
    findings += [
        Finding(
            False,
            f"topic {topic}: {security.principal} is not authorized to "
            "describe it (no ACL allows it; see the KafkaUser of this "
            "principal)",
        )
        for topic in missing
        if topic in hidden
    ]
    findings += [
        Finding(
            False,
            f"topic {topic} is missing: create it (the chart's KafkaTopic "
            f"resources, or kafka-topics.sh --create)",
        )
        for topic in missing
        if topic not in hidden
    ]
    if not missing:
        findings.append(Finding(True, f"topics: all {len(wanted)} present"))
    return findings


async def _unauthorized(admin: AIOKafkaAdminClient, topics: list[str], timeout: float) -> set[str]:
    """Those of ``topics`` the broker refuses to describe to us (rather than not having)."""
    if not topics:
        return set()
    described = await asyncio.wait_for(admin.describe_topics(topics), timeout)
    return {
        item["topic"]
        for item in described
        if item["error_code"] == TopicAuthorizationFailedError.errno
    }


async def _connection_problem(servers: str, security: KafkaSecurity, timeout: float) -> Finding:
    """Why the first bootstrap server does not let us in, said in one line."""
    host, _, port = servers.split(",")[0].strip().rpartition(":")
    try:
        connection = await asyncio.wait_for(
            create_conn(
                host,
                int(port),
                client_id="helpline-doctor",
                request_timeout_ms=5000,
                **aiokafka_options(security),
            ),
            timeout,
        )
        connection.close()
    except SaslAuthenticationFailed:
        return Finding(
            False,
            f"kafka: authentication failed: the broker at {servers} refused "
            f"{security.principal} ({security.sasl_mechanism}: wrong password "
            "or no such user; HELPLINE_KAFKA_SASL_USERNAME/_PASSWORD)",
        )
    except ssl.SSLCertVerificationError as error:
        return Finding(
            False,
            f"kafka: the certificate of the broker at {servers} is not "
            f"trusted ({error.verify_message}; HELPLINE_KAFKA_SSL_CA_FILE)",
        )
    except OSError as error:
        return Finding(
            False,
            f"kafka: cannot reach the broker at {servers} ({type(error).__name__}); is it running?",
        )
    except Exception as error:  # noqa: BLE001 - reported in one line
        return Finding(
            False,
            f"kafka: the broker at {servers} closed the connection "
            f"({type(error).__name__}): does its listener take "
            f"{security.protocol} (HELPLINE_KAFKA_SECURITY_PROTOCOL)?",
        )
    return Finding(
        False,
        f"kafka: the broker at {servers} lets {security.principal} in but "
        "does not answer metadata requests",
    )


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
        return Finding(
            False,
            f"database of {service}: cannot connect ({type(error).__name__}: {_first_line(error)})",
        )
    finally:
        await engine.dispose()
    if folder is None:
        return Finding(
            True,
            f"database of {service}: reachable (helpline-{service} is not "
            "installed here, so its migrations were not compared)",
        )
    script = ScriptDirectory.from_config(alembic_config(folder, url))
    heads = set(script.get_heads())
    if current == heads:
        return Finding(
            True, f"database of {service}: reachable, migrations at head {', '.join(sorted(heads))}"
        )
    pending = _pending_count(script, current, heads)
    return Finding(
        False,
        f"database of {service}: {pending} migration(s) pending (at "
        f"{', '.join(sorted(current)) or 'none'}, head "
        f"{', '.join(sorted(heads))}); run: python -m helpline_{service} migrate",
    )


def _first_line(error: BaseException) -> str:
    lines = str(error).splitlines()
    return lines[0][:120] if lines else ""


async def check_outbox(service: str, url: str, timeout: float, limit: int) -> Finding:
    """Whether ``service``'s outbox holds more unpublished events than ``limit``."""
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with asyncio.timeout(timeout), engine.connect() as connection:
            backlog = int(
                await connection.scalar(text("SELECT count(*) FROM outbox WHERE sent_at IS NULL"))
                or 0
            )
    except Exception as error:  # noqa: BLE001 - reported in one line, not raised
        return Finding(
            False,
            f"outbox of {service}: cannot be read ({type(error).__name__}: {_first_line(error)})",
        )
    finally:
        await engine.dispose()
    if backlog > limit:
        return Finding(
            False,
            f"outbox of {service}: {backlog} event(s) not yet published "
            f"(more than {limit}): is its relay running and Kafka reachable? "
            f"(see {service}'s log and /readyz)",
        )
    return Finding(True, f"outbox of {service}: {backlog} event(s) waiting")


async def check_service(service: str, url: str, timeout: float) -> Finding:
    """Whether ``service`` answers ``/readyz`` with 200 (and what it lacks when it does not)."""
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(url + "/readyz")
    except httpx.HTTPError as error:
        return Finding(
            False,
            f"service {service}: {url}/readyz does not answer "
            f"({type(error).__name__}); is it running?",
        )
    if response.status_code == 200:
        return Finding(True, f"service {service}: ready at {url}")
    try:
        checks = response.json().get("checks") or {}
    except ValueError:
        checks = {}
    failing = ", ".join(
        f"{name} {state}" for name, state in sorted(checks.items()) if state != "ok"
    )
    return Finding(
        False,
        f"service {service}: not ready at {url} ({response.status_code}"
        + (f": {failing})" if failing else ")"),
    )


async def check_dead_letters(settings: CliSettings, limit: int) -> list[Finding]:
    """Whether a dead-letter topic holds more records than ``limit``."""
    dead = [settings.topic_prefix + t for t in all_topics() if t.endswith(DEAD_LETTER_SUFFIX)]
    depths = await topic_depths(settings.kafka_bootstrap_servers, settings.kafka_security(), dead)
    deep = {topic: depth for topic, depth in sorted(depths.items()) if depth > limit}
    findings = [
        Finding(
            False,
            f"dead letters: {topic} holds {depth} record(s) (more than "
            f"{limit}): helpline dlq list "
            f"{topic.removeprefix(settings.topic_prefix)}",
        )
        for topic, depth in deep.items()
    ]
    if not deep:
        findings.append(
            Finding(
                True, f"dead letters: {sum(depths.values())} in {len(depths)} dead-letter topic(s)"
            )
        )
    return findings


async def check_lag(settings: CliSettings, limit: int) -> list[Finding]:
    """Whether a service's consumer group is behind by more than ``limit`` records."""
    groups = await consumer_lag(
        settings.kafka_bootstrap_servers,
        settings.kafka_security(),
        service_groups(settings.topic_prefix),
    )
    findings = [
        Finding(
            False,
            f"consumer group {group.group} is {group.total} record(s) "
            f"behind (more than {limit}): is the service running? "
            f"(helpline lag --group {group.group})",
        )
        for group in groups
        if group.total > limit
    ]
    hidden = [group.group for group in groups if not group.authorized]
    if hidden:
        findings.append(
            Finding(
                True,
                f"consumer lag: {settings.kafka_security().principal} may "
                f"not describe {', '.join(hidden)}: not checked",
            )
        )
    if not findings:
        findings.append(
            Finding(True, "consumer lag: " + ", ".join(f"{g.group} {g.total}" for g in groups))
        )
    return findings


def _pending_count(script: ScriptDirectory, current: set[str], heads: set[str]) -> int:
    applied: set[str] = set()
    for revision in current:
        applied |= {r.revision for r in script.iterate_revisions(revision, "base")}
    wanted: set[str] = set()
    for head in heads:
        wanted |= {r.revision for r in script.iterate_revisions(head, "base")}
    return len(wanted - applied)


async def diagnose(settings: CliSettings, limits: Limits | None = None) -> list[Finding]:
    """Every check: Kafka, topics, dead letters, lag, services' /readyz, databases, outboxes."""
    limits = limits or Limits()
    # aiokafka logs each failed connection attempt; the finding already says it in one line.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    findings = await check_kafka(settings)
    if findings[0].ok:
        for name, check in (
            ("dead letters", check_dead_letters(settings, limits.max_dead_letters)),
            ("consumer lag", check_lag(settings, limits.max_lag)),
        ):
            try:
                findings += await asyncio.wait_for(check, settings.timeout * 3)
            except Exception as error:  # noqa: BLE001 - reported in one line, not raised
                findings.append(
                    Finding(
                        False,
                        f"{name}: cannot be read ({type(error).__name__}: {_first_line(error)})",
                    )
                )
    services = settings.configured_services()
    for service in services:
        findings.append(
            await check_service(service, settings.service_url(service), settings.timeout)
        )
    if not services:
        findings.append(
            Finding(
                True,
                "services: none configured (set HELPLINE_<SERVICE>_URL to check their /readyz)",
            )
        )
    configured = [(s, settings.database_url(s)) for s in SERVICES]
    for service, url in configured:
        if url:
            database = await check_database(service, url, settings.timeout)
            findings.append(database)
            if database.ok:
                findings.append(
                    await check_outbox(service, url, settings.timeout, limits.max_outbox_backlog)
                )
    if not any(url for _service, url in configured):
        findings.append(
            Finding(
                True,
                "databases: none configured (set HELPLINE_<SERVICE>_DATABASE_URL to check them)",
            )
        )
    return findings

"""The CLI against the real services: ``webhooks replay --since`` and ``doctor``'s service checks.

Intake runs with its relay held back, so the ticket it accepts stays in its outbox.
"""

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from helpline_cli import records
from helpline_cli.app import app
from helpline_devstack._proc import free_port, free_ports
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.stack import Stack
from helpline_devstack.testing import unique_name, wait_until
from helpline_shared.runtime.testing import stand_in_identity
from helpline_shared.topics import PARTITIONS, TICKETS, all_topics

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def services(
    kafka: KafkaNode, postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, str, str]]:
    """Intake (PostgreSQL, relay held back) and notify, on fresh topics; and intake's database."""
    prefix = unique_name("cli") + "."
    kafka.create_topics([prefix + topic for topic in all_topics()], PARTITIONS)
    database = postgres.create_database(unique_name("cli_intake"))
    intake_port, notify_port, smtp_port = free_ports(3)
    stack = Stack(
        tmp_path_factory.mktemp("cli-stack"),
        kafka.bootstrap_servers,
        ports={"intake": intake_port, "notify": notify_port},
        database_urls={"intake": database},
        environment={
            "HELPLINE_TOPIC_PREFIX": prefix,
            **stand_in_identity().environment(),
            "HELPLINE_SMTP_PORT": str(smtp_port),
            "HELPLINE_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        },
    )
    try:
        stack.start("intake", {"HELPLINE_RELAY_ENABLED": "false"})
        stack.start("notify")
        yield stack, prefix, database
    finally:
        stack.stop_all()


def cli(environment: dict[str, str], *arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(arguments), env=environment)
    return result.exit_code, result.output


def test_webhooks_replay_since_is_accepted_by_notify(services: tuple[Stack, str, str]) -> None:
    stack, _prefix, _database = services
    environment = {
        "HELPLINE_NOTIFY_URL": stack.running["notify"].url,
        "HELPLINE_TOKEN": stand_in_identity().api_key(unique_name("tenant")),
    }
    code, output = cli(
        environment,
        "webhooks",
        "create",
        "--data",
        json.dumps({"url": f"http://127.0.0.1:{free_port()}/in"}),
    )
    assert code == 0, output
    endpoint = json.loads(output)["id"]

    code, output = cli(environment, "webhooks", "replay", endpoint, "--since", "24h")
    assert code == 0, output
    assert json.loads(output) == {"queued": 0}
    code, output = cli(
        environment, "webhooks", "replay", endpoint, "--since", "2026-01-01T00:00:00Z"
    )
    assert code == 0, output

    code, output = cli(environment, "webhooks", "list", "-o", "json")
    assert [item["id"] for item in json.loads(output)] == [endpoint]


def test_doctor_checks_readyz_and_the_outbox_backlog(
    kafka: KafkaNode, services: tuple[Stack, str, str], tmp_path: Path
) -> None:
    stack, prefix, database = services
    intake = stack.running["intake"].url
    created = httpx.post(
        intake + "/v1/tickets",
        headers={"authorization": f"Bearer {stand_in_identity().api_key('acme')}"},
        json={
            "subject": "Held back",
            "description": "in the outbox",
            "requester": {"email": "cy@example.org"},
        },
    )
    assert created.status_code == 201, created.text
    stopped = f"http://127.0.0.1:{free_port()}"
    environment = {
        "HELPLINE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "HELPLINE_TOPIC_PREFIX": prefix,
        "HELPLINE_INTAKE_URL": intake,
        "HELPLINE_NOTIFY_URL": stack.running["notify"].url,
        "HELPLINE_ROUTING_URL": stopped,
        "HELPLINE_INTAKE_DATABASE_URL": database,
    }

    # Dead letters of the lag test below, when it ran first, are not this test's subject.
    code, output = cli(
        environment, "doctor", "--max-outbox-backlog", "0", "--max-dead-letters", "100"
    )
    assert code == 1
    lines = output.splitlines()
    assert f"ok      service intake: ready at {intake}" in lines
    assert f"ok      service notify: ready at {stack.running['notify'].url}" in lines
    problems = [line for line in lines if line.startswith("PROBLEM")]
    assert problems == [
        f"PROBLEM service routing: {stopped}/readyz does not answer (ConnectError); is it running?",
        # The ticket's event and the audit record of the write that created it.
        "PROBLEM outbox of intake: 2 event(s) not yet published (more than 0): is its relay "
        "running and Kafka reachable? (see intake's log and /readyz)",
    ]

    running_only = {
        name: value for name, value in environment.items() if name != "HELPLINE_ROUTING_URL"
    }
    code, output = cli(running_only, "doctor", "--max-dead-letters", "100")
    assert code == 0, output
    assert "ok      outbox of intake: 2 event(s) waiting" in output.splitlines()


def test_lag_of_a_running_service_returns_to_zero(
    kafka: KafkaNode, services: tuple[Stack, str, str]
) -> None:
    _stack, prefix, _database = services
    environment = {
        "HELPLINE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "HELPLINE_TOPIC_PREFIX": prefix,
    }
    before = json.loads(cli(environment, "lag", "--group", "helpline-notify", "-o", "json")[1])
    # Three records that are no events, sent to tickets as a replay would send them.
    letters = [
        records.DeadLetter(
            0, n, f"T-{n}".encode(), b"{}", (("helpline-dlq-topic", (prefix + TICKETS).encode()),)
        )
        for n in range(3)
    ]
    asyncio.run(records.replay(kafka.bootstrap_servers, letters))

    def caught_up() -> bool:
        code, output = cli(environment, "lag", "--group", "helpline-notify", "-o", "json")
        [group] = json.loads(output)
        committed = sum(row["committed"] or 0 for row in group["partitions"])
        return code == 0 and group["lag"] == 0 and committed >= 3

    wait_until(caught_up, 60, "notify to consume the three records")
    assert before[0]["lag"] == 0

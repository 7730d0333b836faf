"""``helpline doctor`` names each problem of a deployment in one clear line."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpline_cli.app import app
from helpline_cli.doctor import migrations_folder
from helpline_devstack._proc import free_port, free_ports
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.testing import unique_name
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.topics import PARTITIONS, SLA, all_topics, dead_letter_topic


def doctor(environment: dict[str, str], *options: str) -> tuple[int, list[str]]:
    """Run ``helpline doctor`` with ``environment``; its exit code and its lines."""
    result = CliRunner().invoke(app, ["doctor", *options], env=environment)
    return result.exit_code, result.output.strip().splitlines()


def problems(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("PROBLEM")]


def test_a_stopped_broker_is_reported_in_one_line() -> None:
    address = f"127.0.0.1:{free_port()}"
    code, lines = doctor({"HELPLINE_KAFKA_BOOTSTRAP_SERVERS": address})
    assert code == 1
    assert problems(lines) == [
        f"PROBLEM kafka: cannot reach the broker at {address} (ConnectionRefusedError); "
        "is it running?"
    ]


@pytest.mark.integration
def test_a_missing_topic_is_reported_in_one_line(kafka: KafkaNode) -> None:
    prefix = unique_name("doctor") + "."
    missing = dead_letter_topic(SLA)
    kafka.create_topics([prefix + t for t in all_topics() if t != missing], PARTITIONS)
    code, lines = doctor(
        {
            "HELPLINE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "HELPLINE_TOPIC_PREFIX": prefix,
        }
    )
    assert code == 1
    assert problems(lines) == [
        f"PROBLEM topic {prefix}{missing} is missing: create it (the chart's KafkaTopic "
        "resources, or kafka-topics.sh --create)"
    ]


@pytest.mark.integration
def test_a_pending_migration_is_reported_in_one_line(kafka: KafkaNode, tmp_path: Path) -> None:
    prefix = unique_name("doctor") + "."
    kafka.create_topics([prefix + t for t in all_topics()], PARTITIONS)
    migrated = f"sqlite+aiosqlite:///{tmp_path / 'routing.db'}"
    folder = migrations_folder("routing")
    assert folder is not None
    upgrade(folder, migrated)
    never_migrated = f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}"
    code, lines = doctor(
        {
            "HELPLINE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "HELPLINE_TOPIC_PREFIX": prefix,
            "HELPLINE_INTAKE_DATABASE_URL": never_migrated,
            "HELPLINE_ROUTING_DATABASE_URL": migrated,
        }
    )
    assert code == 1
    [problem] = problems(lines)
    assert problem.startswith("PROBLEM database of intake: ")
    assert "migration(s) pending (at none, head " in problem
    assert problem.endswith("run: python -m helpline_intake migrate")
    assert any(
        line.startswith("ok      database of routing: reachable, migrations at head")
        for line in lines
    )


@pytest.mark.integration
def test_a_healthy_deployment_has_no_problem(kafka: KafkaNode) -> None:
    prefix = unique_name("doctor") + "."
    kafka.create_topics([prefix + t for t in all_topics()], PARTITIONS)
    code, lines = doctor(
        {
            "HELPLINE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "HELPLINE_TOPIC_PREFIX": prefix,
        }
    )
    assert (code, problems(lines)) == (0, [])


def test_a_service_that_does_not_answer_readyz_is_reported_in_one_line() -> None:
    stopped_http, stopped_kafka = free_ports(2)
    stopped = f"http://127.0.0.1:{stopped_http}"
    code, lines = doctor(
        {
            "HELPLINE_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{stopped_kafka}",
            "HELPLINE_NOTIFY_URL": stopped,
        }
    )
    assert code == 1
    assert (
        f"PROBLEM service notify: {stopped}/readyz does not answer (ConnectError); is it running?"
    ) in lines

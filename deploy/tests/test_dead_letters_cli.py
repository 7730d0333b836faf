"""``helpline dlq`` lists dead letters with their cause and replays them as first published."""

import asyncio
import json

import pytest
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner

from helpline_cli import records
from helpline_cli.app import app
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.testing import wait_until
from helpline_shared.topics import TICKETS, dead_letter_topic

ORIGINAL_HEADERS = [("ce_id", b"e-1"), ("ce_type", b"helpline.ticket.created.v1")]


async def put_dead_letter(
    servers: str,
    topic: str,
    key: bytes = b"T-1",
    headers: list[tuple[str, bytes]] = ORIGINAL_HEADERS,
    error: bytes = b"InvalidEventData: bad json",
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            dead_letter_topic(topic),
            value=b"{not json",
            key=key,
            headers=[
                *headers,
                ("helpline-dlq-error", error),
                ("helpline-dlq-topic", topic.encode()),
                ("helpline-dlq-group", b"helpline-routing"),
                ("helpline-dlq-attempts", b"0"),
            ],
        )
    finally:
        await producer.stop()


def put_and_wait(servers: str, topic: str, count: int = 1) -> None:
    """Put a dead letter of ``topic`` and wait until a reader sees it (fresh topics lag)."""
    asyncio.run(put_dead_letter(servers, topic))
    wait_until(
        lambda: len(asyncio.run(records.read_all(servers, dead_letter_topic(topic)))) >= count,
        30,
        "the dead letter to be readable",
    )


def environment_of(kafka: KafkaNode, topic_prefix: str) -> dict[str, str]:
    """The CLI's environment for the broker and the test's topics."""
    return {
        "HELPLINE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "HELPLINE_TOPIC_PREFIX": topic_prefix,
    }


@pytest.mark.integration
def test_dead_letters_are_listed_and_replayed_to_their_topic(
    kafka: KafkaNode, topic_prefix: str
) -> None:
    topic = topic_prefix + TICKETS
    put_and_wait(kafka.bootstrap_servers, topic)
    environment = environment_of(kafka, topic_prefix)
    runner = CliRunner()

    listed = runner.invoke(app, ["dlq", "list", TICKETS], env=environment)
    assert listed.exit_code == 0, listed.output
    assert (
        f"from {topic} group=helpline-routing attempts=0 error=InvalidEventData: bad json"
        in listed.output
    )
    assert "1 dead letter(s)" in listed.output

    replayed = runner.invoke(app, ["dlq", "replay", TICKETS, "--yes"], env=environment)
    assert replayed.exit_code == 0, replayed.output
    assert "replayed 1 dead letter(s)" in replayed.output
    [record] = asyncio.run(records.read_all(kafka.bootstrap_servers, topic))
    assert (record.key, record.value) == (b"T-1", b"{not json")
    assert list(record.headers) == ORIGINAL_HEADERS


@pytest.mark.integration
def test_tail_prints_records_as_readable_lines(kafka: KafkaNode, topic_prefix: str) -> None:
    put_and_wait(kafka.bootstrap_servers, topic_prefix + TICKETS)
    result = CliRunner().invoke(
        app,
        ["tail", dead_letter_topic(TICKETS), "--from-beginning", "--limit", "1"],
        env=environment_of(kafka, topic_prefix),
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{topic_prefix}{dead_letter_topic(TICKETS)}[")
    assert "not a Helpline event" in result.output


@pytest.mark.integration
def test_a_dry_run_lists_the_filtered_dead_letters_and_replays_nothing(
    kafka: KafkaNode, topic_prefix: str
) -> None:
    topic = topic_prefix + TICKETS
    servers = kafka.bootstrap_servers
    asyncio.run(
        put_dead_letter(
            servers,
            topic,
            key=b"T-2",
            error=b"Timeout: slow",
            headers=[("ce_id", b"e-2"), ("ce_type", b"helpline.ticket.assigned.v1")],
        )
    )
    put_and_wait(servers, topic, count=2)
    environment = environment_of(kafka, topic_prefix)
    runner = CliRunner()

    everything = runner.invoke(app, ["dlq", "replay", TICKETS, "--dry-run"], env=environment)
    assert everything.exit_code == 0, everything.output
    assert everything.output.count(f"from {topic} ") == 2
    assert "would replay 2 dead letter(s)" in everything.output
    by_type = runner.invoke(
        app,
        ["dlq", "replay", TICKETS, "--dry-run", "--type", "helpline.ticket.created.v1"],
        env=environment,
    )
    assert "error=InvalidEventData: bad json" in by_type.output
    assert "would replay 1 dead letter(s)" in by_type.output
    by_key_and_error = runner.invoke(
        app,
        [
            "dlq",
            "replay",
            TICKETS,
            "--dry-run",
            "--key",
            "T-2",
            "--error",
            "timeout",
            "--since",
            "1h",
        ],
        env=environment,
    )
    assert "error=Timeout: slow" in by_key_and_error.output
    assert "would replay 1 dead letter(s)" in by_key_and_error.output
    nothing = runner.invoke(
        app, ["dlq", "replay", TICKETS, "--dry-run", "--key", "T-9"], env=environment
    )
    assert "would replay 0 dead letter(s)" in nothing.output
    assert asyncio.run(records.read_all(servers, topic)) == []

    listed = runner.invoke(
        app, ["dlq", "list", TICKETS, "--key", "T-2", "-o", "json"], env=environment
    )
    [shown] = json.loads(listed.output)
    assert (shown["key"], shown["type"], shown["error"], shown["original_topic"]) == (
        "T-2",
        "helpline.ticket.assigned.v1",
        "Timeout: slow",
        topic,
    )


@pytest.mark.integration
def test_a_replay_without_yes_away_from_a_terminal_is_refused(
    kafka: KafkaNode, topic_prefix: str
) -> None:
    topic = topic_prefix + TICKETS
    put_and_wait(kafka.bootstrap_servers, topic)
    environment = environment_of(kafka, topic_prefix)
    refused = CliRunner().invoke(app, ["dlq", "replay", TICKETS], env=environment)
    assert refused.exit_code == 1
    assert "refusing to replay 1 dead letter(s) without --yes" in refused.output
    assert asyncio.run(records.read_all(kafka.bootstrap_servers, topic)) == []

    filtered = CliRunner().invoke(
        app, ["dlq", "replay", TICKETS, "--yes", "--key", "T-1"], env=environment
    )
    assert "replayed 1 dead letter(s)" in filtered.output
    assert len(asyncio.run(records.read_all(kafka.bootstrap_servers, topic))) == 1

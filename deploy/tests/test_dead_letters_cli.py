"""``helpline dlq`` lists dead letters with their cause and replays them as first published."""

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner

from helpline_cli import records
from helpline_cli.app import app
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.testing import wait_until
from helpline_shared.topics import TICKETS, dead_letter_topic

ORIGINAL_HEADERS = [("ce_id", b"e-1"), ("ce_type", b"helpline.ticket.created.v1")]


async def put_dead_letter(servers: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            dead_letter_topic(topic), value=b"{not json", key=b"T-1",
            headers=[*ORIGINAL_HEADERS, ("helpline-dlq-error", b"InvalidEventData: bad json"),
                     ("helpline-dlq-topic", topic.encode()),
                     ("helpline-dlq-group", b"helpline-routing"),
                     ("helpline-dlq-attempts", b"0")])
    finally:
        await producer.stop()


def put_and_wait(servers: str, topic: str) -> None:
    """Put a dead letter of ``topic`` and wait until a reader sees it (fresh topics lag)."""
    asyncio.run(put_dead_letter(servers, topic))
    wait_until(lambda: asyncio.run(records.read_all(servers, dead_letter_topic(topic))), 30,
               "the dead letter to be readable")


@pytest.mark.integration
def test_dead_letters_are_listed_and_replayed_to_their_topic(
    kafka: KafkaNode, topic_prefix: str
) -> None:
    topic = topic_prefix + TICKETS
    put_and_wait(kafka.bootstrap_servers, topic)
    environment = {"HELPLINE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
                   "HELPLINE_TOPIC_PREFIX": topic_prefix}
    runner = CliRunner()

    listed = runner.invoke(app, ["dlq", "list", TICKETS], env=environment)
    assert listed.exit_code == 0, listed.output
    assert f"from {topic} group=helpline-routing attempts=0 error=InvalidEventData: bad json" \
        in listed.output
    assert "1 dead letter(s)" in listed.output

    replayed = runner.invoke(app, ["dlq", "replay", TICKETS], env=environment)
    assert replayed.exit_code == 0, replayed.output
    assert "replayed 1 dead letter(s)" in replayed.output
    [record] = asyncio.run(records.read_all(kafka.bootstrap_servers, topic))
    assert (record.key, record.value) == (b"T-1", b"{not json")
    assert list(record.headers) == ORIGINAL_HEADERS


@pytest.mark.integration
def test_tail_prints_records_as_readable_lines(kafka: KafkaNode, topic_prefix: str) -> None:
    put_and_wait(kafka.bootstrap_servers, topic_prefix + TICKETS)
    result = CliRunner().invoke(
        app, ["tail", dead_letter_topic(TICKETS), "--from-beginning", "--limit", "1"],
        env={"HELPLINE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
             "HELPLINE_TOPIC_PREFIX": topic_prefix})
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{topic_prefix}{dead_letter_topic(TICKETS)}[")
    assert "not a Helpline event" in result.output

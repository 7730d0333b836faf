"""Consumer lag and dead-letter depth: ``helpline lag`` and the checks ``doctor`` makes of them."""

import asyncio
import json
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from typer.testing import CliRunner

from helpline_cli.app import app
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.testing import unique_name
from helpline_shared.kafka_acls import SERVICE_ACCESS
from helpline_shared.topics import PARTITIONS, TICKETS, all_topics, dead_letter_topic

pytestmark = pytest.mark.integration

ESCALATION = SERVICE_ACCESS["escalation"].subscriptions[0]


async def produce(servers: str, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all")
    await producer.start()
    try:
        for number in range(count):
            await producer.send_and_wait(topic, value=b"{}", key=f"T-{number}".encode())
    finally:
        await producer.stop()


async def wait_until_empty(servers: str, group: str, timeout: float = 60) -> None:
    """Until ``group`` has no member left.

    The broker is shared by the session's tests: a service another test SIGKILLed stays a member
    of its group until its session times out (10 s), and while it does the broker refuses a
    commit from outside the group (``UnknownMemberIdError``).
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            [description] = await admin.describe_consumer_groups([group])
            [found] = description.to_object()["groups"]
            if found["state"] in ("Empty", "Dead"):
                return
            assert time.monotonic() < deadline, f"{group} still has members: {found['members']}"
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def commit_to_end(servers: str, group: str, partitions: list[TopicPartition]) -> None:
    """Commit ``group`` at the end of each of ``partitions``, as a caught-up consumer would."""
    await wait_until_empty(servers, group)
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.commit(ends)
    finally:
        await consumer.stop()


def lag(servers: str, prefix: str, *arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        ["lag", *arguments],
        env={"HELPLINE_KAFKA_BOOTSTRAP_SERVERS": servers, "HELPLINE_TOPIC_PREFIX": prefix},
    )
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_a_group_that_has_not_consumed_lags_and_catches_up(
    kafka: KafkaNode, topic_prefix: str
) -> None:
    servers = kafka.bootstrap_servers
    topic = topic_prefix + TICKETS
    asyncio.run(produce(servers, topic, 5))

    code, output = lag(servers, topic_prefix, "--group", ESCALATION.group, "-o", "json")
    assert code == 0, output
    [group] = json.loads(output)
    assert group["group"] == ESCALATION.group and group["lag"] == 5
    assert {row["topic"] for row in group["partitions"]} == {topic}
    assert sum(row["end"] for row in group["partitions"]) == 5
    assert all(row["committed"] is None for row in group["partitions"])
    partitions = [TopicPartition(row["topic"], row["partition"]) for row in group["partitions"]]

    code, output = lag(servers, topic_prefix, "--group", ESCALATION.group, "--max-lag", "4")
    assert code == 1
    assert f"{ESCALATION.group} is 5 record(s) behind (more than 4)" in output
    assert f"{ESCALATION.group}: lag 5" in output
    assert "GROUP" in output and "COMMITTED" in output

    asyncio.run(commit_to_end(servers, ESCALATION.group, partitions))
    code, output = lag(
        servers, topic_prefix, "--group", ESCALATION.group, "--max-lag", "0", "-o", "json"
    )
    assert code == 0, output
    [group] = json.loads(output)
    assert group["lag"] == 0
    assert all(row["committed"] == row["end"] for row in group["partitions"])


def test_by_default_every_service_group_is_shown(kafka: KafkaNode, topic_prefix: str) -> None:
    code, output = lag(kafka.bootstrap_servers, topic_prefix, "-o", "json")
    assert code == 0, output
    expected = {s.group for access in SERVICE_ACCESS.values() for s in access.subscriptions}
    assert {group["group"] for group in json.loads(output)} == expected


def doctor(environment: dict[str, str], *options: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, ["doctor", *options], env=environment)
    lines = result.output.strip().splitlines()
    return result.exit_code, [line for line in lines if line.startswith("PROBLEM")]


def test_dead_letters_and_consumer_lag_above_their_limits_are_problems(kafka: KafkaNode) -> None:
    prefix = unique_name("doctor") + "."
    kafka.create_topics([prefix + t for t in all_topics()], PARTITIONS)
    asyncio.run(produce(kafka.bootstrap_servers, prefix + dead_letter_topic(TICKETS), 2))
    asyncio.run(produce(kafka.bootstrap_servers, prefix + TICKETS, 3))
    environment = {
        "HELPLINE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "HELPLINE_TOPIC_PREFIX": prefix,
    }

    code, lines = doctor(environment, "--max-lag", "2")
    assert code == 1
    readers = [
        s.group
        for access in SERVICE_ACCESS.values()
        for s in access.subscriptions
        if TICKETS in s.topics
    ]
    assert lines == [
        f"PROBLEM dead letters: {prefix}{dead_letter_topic(TICKETS)} holds 2 record(s) (more "
        f"than 0): helpline dlq list {dead_letter_topic(TICKETS)}",
        *(
            f"PROBLEM consumer group {group} is 3 record(s) behind (more than 2): is the service "
            f"running? (helpline lag --group {group})"
            for group in readers
        ),
    ]

    code, lines = doctor(environment, "--max-lag", "3", "--max-dead-letters", "2")
    assert (code, lines) == (0, [])

"""A consumer whose broker went away after it connected logs the client's retries once a window,
not every 100 ms (aiokafka issue #496), on a real broker of its own, stopped mid-test."""

import asyncio
import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from faststream.kafka import KafkaBroker

from helpline_devstack.kafka import KafkaNode
from helpline_shared.runtime.consumer import _batch_subscriber
from helpline_shared.runtime.telemetry import setup_logging

pytestmark = pytest.mark.integration

# Two ports after the session broker's pair: this test stops its broker.
PORT = int(os.environ.get("HELPLINE_TEST_KAFKA_PORT", "29092")) + 2


@pytest.fixture
def lone_kafka() -> Iterator[KafkaNode]:
    home = Path(os.environ.get("HELPLINE_TEST_HOME", "/tmp/helpline-test")) / "kafka-away"
    node = KafkaNode(home, port=PORT, controller_port=PORT + 1)
    node.start()
    node.create_topics(["away"], 3)
    yield node
    node.stop()


async def test_retries_against_a_stopped_broker_are_logged_once_a_window(
    lone_kafka: KafkaNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = io.StringIO()
    setup_logging("test", "INFO")
    monkeypatch.setattr(logging.getLogger().handlers[0], "stream", lines)
    broker = KafkaBroker(f"127.0.0.1:{PORT}", logger=logging.getLogger("helpline.kafka"))

    @_batch_subscriber(broker, ["away"], "away-group", 10)
    async def consume(message: object) -> None:
        """Nothing arrives."""

    await broker.start()
    try:
        await asyncio.sleep(2)  # joined the group
        lone_kafka.stop()
        await asyncio.sleep(5)  # ~50 retries of each kind at aiokafka's 100 ms backoff
    finally:
        logging.getLogger().handlers[0].setStream(io.StringIO())
        await broker.stop()

    kinds = [
        json.loads(line)["message"].split(":")[0]
        for line in lines.getvalue().splitlines()
        if json.loads(line)["name"].startswith("aiokafka")
    ]
    assert kinds, "the outage was not noticed"
    # Each kind of message once (it logged ~70 lines a second before).
    assert len(kinds) == len(set(kinds)), kinds

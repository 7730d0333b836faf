"""Servers shared by the whole test session: one Kafka broker and one PostgreSQL cluster.

Started on first use and stopped at the end of the session; tests isolate themselves with their
own topic prefix, consumer groups, databases and tenants, never with a server each.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpline_devstack.kafka import KafkaNode
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.testing import unique_name
from helpline_shared.topics import PARTITIONS, all_topics

ROOT = Path(__file__).parent
TEST_HOME = Path(os.environ.get("HELPLINE_TEST_HOME", ROOT / ".helpline" / "test"))
KAFKA_PORT = int(os.environ.get("HELPLINE_TEST_KAFKA_PORT", "29092"))
POSTGRES_PORT = int(os.environ.get("HELPLINE_TEST_POSTGRES_PORT", "25433"))


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaNode]:
    """The session's real Kafka broker (KRaft, single node)."""
    node = KafkaNode(TEST_HOME / "kafka", port=KAFKA_PORT, controller_port=KAFKA_PORT + 1)
    node.start()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The session's real PostgreSQL server."""
    server = PostgresServer(TEST_HOME / "postgres", port=POSTGRES_PORT)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def topic_prefix(kafka: KafkaNode) -> str:
    """A fresh set of Helpline topics for one test, created explicitly."""
    prefix = unique_name("t") + "."
    kafka.create_topics([prefix + topic for topic in all_topics()], PARTITIONS)
    return prefix

"""Start each real local server once and check that clients can use it."""

from __future__ import annotations

import asyncio
import smtplib
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy.engine import URL, make_url

from helpline_devstack import KafkaNode, MailSink, PostgresServer
from helpline_devstack._proc import free_port, free_ports

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaNode]:
    port, controller_port = free_ports(2)
    node = KafkaNode(tmp_path_factory.mktemp("kafka"), port=port, controller_port=controller_port)
    node.start()
    yield node
    node.stop()
    assert not node.is_running()
    node.stop()  # idempotent


def test_kafka_start_is_idempotent(kafka: KafkaNode) -> None:
    began = time.monotonic()
    kafka.start()
    assert time.monotonic() - began < 2
    assert kafka.bootstrap_servers == f"127.0.0.1:{kafka.port}"


async def test_kafka_start_from_a_running_loop(kafka: KafkaNode) -> None:
    kafka.start()
    assert kafka.is_running()


async def test_kafka_produce_and_consume(kafka: KafkaNode) -> None:
    topic = f"devstack.test.{uuid.uuid4().hex}"
    kafka.create_topics([topic], partitions=2)
    kafka.create_topics([topic, topic], partitions=2)

    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"k")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=f"devstack-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"k", b"hello")


def test_postgres_database(tmp_path: Path) -> None:
    server = PostgresServer(tmp_path / "pg", port=free_port())
    server.start()
    try:
        server.start()  # idempotent
        url = server.create_database("devstack_test")
        assert server.create_database("devstack_test") == url
        assert url == f"postgresql+asyncpg://helpline@127.0.0.1:{server.port}/devstack_test"
        dsn = make_url(url).set(drivername="postgresql").render_as_string()
        assert asyncio.run(_select_one(dsn)) == 1
        # The same database over the Unix socket: the server sees no client address.
        local = make_url(server.socket_url("devstack_test"))
        assert (local.host, local.database) == (None, "devstack_test")
        assert asyncio.run(_over_socket(local)) == (None, 1)
        server.stop()
        server.stop()  # idempotent
    finally:
        server.destroy()
    assert not server.data_dir.exists()


async def _select_one(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        value: int = await connection.fetchval("select 1")
        return value
    finally:
        await connection.close()


async def _over_socket(url: URL) -> tuple[str | None, int]:
    """The client address the server sees, and ``select 1``, through ``url``'s socket."""
    connection = await asyncpg.connect(
        host=url.query["host"],
        port=int(url.query["port"]),
        user=url.username,
        database=url.database,
    )
    try:
        row = await connection.fetchrow("select inet_client_addr()::text, 1")
        assert row is not None
        return row[0], row[1]
    finally:
        await connection.close()


def test_mailsink_stores_raw_message(tmp_path: Path) -> None:
    sink = MailSink(tmp_path / "mail", port=free_port())
    sink.start()
    try:
        message = EmailMessage()
        message["From"] = "agent@helpline.test"
        message["To"] = "customer@example.test"
        message["Subject"] = "Ticket #1"
        message.set_content("Hello,\n.leading dot line\nBye\n")
        with smtplib.SMTP(sink.host, sink.port) as client:
            client.send_message(message)
            client.send_message(message)
    finally:
        sink.stop()
    sink.stop()  # idempotent

    files = sink.messages()
    assert len(files) == 2
    expected = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    assert files[0].read_bytes() == expected
    assert not list((tmp_path / "mail").glob(".*"))

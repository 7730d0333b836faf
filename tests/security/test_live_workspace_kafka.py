"""The workspace's Kafka user on the SASL_SSL broker: it reads the live topics in a consumer
group of its own per process, and may write nothing nor use another group."""

import asyncio
import secrets

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)

from helpline_devstack.kafka import KafkaNode
from helpline_devstack.testing import unique_name
from helpline_shared.kafka_acls import reader_acls, service_user
from helpline_shared.kafka_security import KafkaSecurity, aiokafka_options
from helpline_shared.topics import PARTITIONS, ROUTING, TICKETS, all_topics
from helpline_workspace.live import Positioned, consumer_group

pytestmark = [pytest.mark.integration]


def _workspace_user(kafka: KafkaNode, prefix: str) -> KafkaSecurity:
    """The workspace's user with its ACLs, as ``provision_services`` grants them."""
    password = secrets.token_urlsafe(24)
    access = kafka.access()
    access.set_password(service_user("workspace"), password)
    access.grant(service_user("workspace"), reader_acls("workspace", prefix))
    return kafka.client_security(service_user("workspace"), password)


async def _start(client: AIOKafkaConsumer | AIOKafkaProducer) -> None:
    """Start ``client`` once the broker knows the new credential (it applies it shortly after)."""
    for _attempt in range(20):
        try:
            await client.start()
            return
        except KafkaConnectionError:
            await asyncio.sleep(0.5)
    await client.start()


async def _read_one(kafka: KafkaNode, security: KafkaSecurity, group: str, prefix: str) -> bytes:
    assigned = asyncio.Event()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=group,
        auto_offset_reset="latest",
        enable_auto_commit=False,
        **aiokafka_options(security),
    )
    consumer.subscribe([prefix + ROUTING, prefix + TICKETS], listener=Positioned(assigned))
    await _start(consumer)
    try:
        fetching = asyncio.ensure_future(consumer.getone())
        await asyncio.wait_for(assigned.wait(), 30)
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka.bootstrap_servers, **aiokafka_options(kafka.admin_security)
        )
        await producer.start()
        try:
            for partition in consumer.assignment():  # positioned at the end before producing
                await consumer.position(partition)
            await producer.send_and_wait(prefix + ROUTING, b'{"live": true}', key=b"t-1")
        finally:
            await producer.stop()
        record = await asyncio.wait_for(fetching, 30)
        return bytes(record.value or b"")
    finally:
        await consumer.stop()


async def _write(kafka: KafkaNode, security: KafkaSecurity, topic: str) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers, **aiokafka_options(security)
    )
    await _start(producer)
    try:
        await producer.send_and_wait(topic, b"{}", key=b"k")
    finally:
        await producer.stop()


def test_the_workspace_reads_the_live_topics_in_its_own_group_and_writes_nothing(
    secure_kafka: KafkaNode,
) -> None:
    prefix = unique_name("live") + "."
    secure_kafka.create_topics([prefix + topic for topic in all_topics()], PARTITIONS)
    security = _workspace_user(secure_kafka, prefix)

    assert (
        asyncio.run(_read_one(secure_kafka, security, consumer_group(), prefix))
        == b'{"live": true}'
    )
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(_write(secure_kafka, security, prefix + ROUTING))
    with pytest.raises(GroupAuthorizationFailedError):
        asyncio.run(_read_one(secure_kafka, security, "helpline-routing", prefix))

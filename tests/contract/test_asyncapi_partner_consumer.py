"""A partner reads its tenant's stream from offset 0 with only aiokafka and the cloudevents SDK.

Helpline's side publishes as the services do (``helpline_shared.envelope``) and notify's partner
forwarder, with its real topic creation and producer, copies the records to the partner topics;
the partner's side (``partner_read``) imports nothing of Helpline: it learns its topic and the
payload schemas from the AsyncAPI document and checks each record against them.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event

from helpline_devstack.kafka import KafkaNode
from helpline_notify.adapters.partner_topics import (
    KafkaPartnerTopics,
    PartnerTopicSpec,
    admin_client,
)
from helpline_notify.config import NotifySettings
from helpline_notify.service_layer.partner_stream import PartnerForwarder
from helpline_shared.asyncapi import build_document
from helpline_shared.envelope import to_record
from helpline_shared.events import Event, Requester, SlaBreached, TicketAssigned, TicketCreated
from helpline_shared.runtime.producer import EventProducer
from helpline_shared.topics import PUBLIC_TOPICS

pytestmark = pytest.mark.integration


def sample_events(ticket_id: str, tenant: str = "acme") -> list[Event]:
    now = datetime.now(UTC)
    return [
        TicketCreated(
            tenant_id=tenant,
            ticket_id=ticket_id,
            occurred_at=now,
            subject="Help",
            description="It broke",
            requester=Requester(email="c@example.org"),
            priority="normal",
            type="question",
            channel="api",
        ),
        TicketAssigned(
            tenant_id=tenant,
            ticket_id=ticket_id,
            occurred_at=now,
            agent_id="a1",
            agent_name="Ann",
            agent_email="ann@example.com",
            channel="api",
            candidates_considered=2,
            reason="skill",
        ),
        SlaBreached(
            tenant_id=tenant,
            ticket_id=ticket_id,
            occurred_at=now,
            metric="first_response",
            deadline=now,
            clock_version=1,
            reason="late",
        ),
    ]


async def partner_read(
    bootstrap: str, asyncapi: dict[str, Any], prefix: str, tenant: str, expected: int
) -> list[dict[str, Any]]:
    """What a partner's consumer does: subscribe to its channel, read from offset 0, decode."""
    addresses = [
        prefix + channel["address"].replace("{tenant}", tenant)
        for channel in asyncapi["channels"].values()
        if "partner" in {tag["name"] for tag in channel.get("tags", ())}
    ]
    assert len(addresses) == 1, "a partner reads one channel"
    schemas = asyncapi["components"]["schemas"]
    by_type = {message["name"]: message for message in asyncapi["components"]["messages"].values()}
    consumer = AIOKafkaConsumer(
        *addresses,
        bootstrap_servers=bootstrap,
        group_id=f"partner-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    read: list[dict[str, Any]] = []
    try:
        for _ in range(100):
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    event = from_binary_event(
                        KafkaMessage(
                            headers=dict(record.headers), key=record.key, value=record.value
                        )
                    )
                    message = by_type[event.get_type()]
                    payload_schema = {**message["payload"], "components": {"schemas": schemas}}
                    jsonschema.validate(event.get_data(), payload_schema)
                    read.append(
                        {
                            "type": event.get_type(),
                            "id": event.get_id(),
                            "key": record.key,
                            "offset": record.offset,
                            "data": event.get_data(),
                        }
                    )
            if len(read) >= expected:
                break
    finally:
        await consumer.stop()
    return read


async def forward_internal_topics(bootstrap: str, prefix: str, expected: int) -> None:
    """Run notify's partner forwarder over the internal topics until ``expected`` records."""
    settings = NotifySettings(kafka_bootstrap_servers=bootstrap, topic_prefix=prefix)
    producer = EventProducer(bootstrap, "contract-partner-forwarder")
    await producer.start()
    forwarder = PartnerForwarder(
        KafkaPartnerTopics(
            lambda: admin_client(settings, "contract-partner-forwarder"),
            PartnerTopicSpec(partitions=2, replication_factor=1, retention_ms=3_600_000),
        ),
        producer,
        topic_prefix=prefix,
    )
    consumer = AIOKafkaConsumer(
        *(prefix + topic for topic in PUBLIC_TOPICS),
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    forwarded = 0
    try:
        for _ in range(100):
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                forwarded += await forwarder.forward(records)
            if forwarded >= expected:
                return
    finally:
        await consumer.stop()
        await producer.stop()
    raise AssertionError(f"forwarded {forwarded} of {expected} records")


async def test_a_partner_consumer_reads_its_tenants_stream_from_offset_zero(
    kafka: KafkaNode,
    topic_prefix: str,
) -> None:
    ticket_id, other_ticket = str(uuid.uuid4()), str(uuid.uuid4())
    events = sample_events(ticket_id)
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    try:
        for event in [*events, *sample_events(other_ticket, tenant="globex")]:
            record = to_record(event, source="/helpline/test")
            await producer.send_and_wait(
                topic_prefix + record.topic,
                value=record.value,
                key=record.key,
                headers=list(record.headers),
            )
    finally:
        await producer.stop()
    await forward_internal_topics(kafka.bootstrap_servers, topic_prefix, 2 * len(events))

    read = await partner_read(
        kafka.bootstrap_servers, build_document(), topic_prefix, "acme", len(events)
    )

    assert sorted(item["type"] for item in read) == sorted(e.event_type for e in events)
    assert [item["offset"] for item in read] == [0, 1, 2], "one ticket: one partition, in order"
    assert all(item["key"] == ticket_id.encode() for item in read)
    assert {item["data"]["ticket_id"] for item in read} == {ticket_id}, "nothing of globex"

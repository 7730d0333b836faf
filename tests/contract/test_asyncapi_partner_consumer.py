"""A partner reads the public stream from offset 0 with only aiokafka and the cloudevents SDK.

Helpline's side publishes as the services do (``helpline_shared.envelope``); the partner's side
(``partner_read``) imports nothing of Helpline: it learns topics and payload schemas from the
AsyncAPI document and checks each record against them.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event

from helpline_devstack.kafka import KafkaNode
from helpline_shared.asyncapi import build_document
from helpline_shared.envelope import to_record
from helpline_shared.events import Event, Requester, SlaBreached, TicketAssigned, TicketCreated

pytestmark = pytest.mark.integration


def sample_events(ticket_id: str) -> list[Event]:
    now = datetime.now(UTC)
    return [
        TicketCreated(tenant_id="acme", ticket_id=ticket_id, occurred_at=now, subject="Help",
                      description="It broke", requester=Requester(email="c@example.org"),
                      priority="normal", type="question", channel="api"),
        TicketAssigned(tenant_id="acme", ticket_id=ticket_id, occurred_at=now, agent_id="a1",
                       agent_name="Ann", agent_email="ann@example.com", channel="api",
                       candidates_considered=2, reason="skill"),
        SlaBreached(tenant_id="acme", ticket_id=ticket_id, occurred_at=now,
                    metric="first_response", deadline=now, clock_version=1, reason="late"),
    ]


async def partner_read(bootstrap: str, asyncapi: dict[str, Any], prefix: str, expected: int
                       ) -> list[dict[str, Any]]:
    """What a partner's consumer does: subscribe to every channel, read from offset 0, decode."""
    addresses = [prefix + channel["address"] for channel in asyncapi["channels"].values()]
    schemas = asyncapi["components"]["schemas"]
    by_type = {message["name"]: message for message in asyncapi["components"]["messages"].values()}
    consumer = AIOKafkaConsumer(*addresses, bootstrap_servers=bootstrap,
                                group_id=f"partner-{uuid.uuid4()}", auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    read: list[dict[str, Any]] = []
    try:
        for _ in range(100):
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    event = from_binary_event(KafkaMessage(
                        headers=dict(record.headers), key=record.key, value=record.value))
                    message = by_type[event.get_type()]
                    payload_schema = {**message["payload"], "components": {"schemas": schemas}}
                    jsonschema.validate(event.get_data(), payload_schema)
                    read.append({"type": event.get_type(), "id": event.get_id(),
                                 "key": record.key, "offset": record.offset,
                                 "data": event.get_data()})
            if len(read) >= expected:
                break
    finally:
        await consumer.stop()
    return read


async def test_a_partner_consumer_reads_the_stream_from_offset_zero(
    kafka: KafkaNode, topic_prefix: str,
) -> None:
    ticket_id = str(uuid.uuid4())
    events = sample_events(ticket_id)
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    try:
        for event in events:
            record = to_record(event, source="/helpline/test")
            await producer.send_and_wait(topic_prefix + record.topic, value=record.value,
                                         key=record.key, headers=list(record.headers))
    finally:
        await producer.stop()

    read = await partner_read(kafka.bootstrap_servers, build_document(), topic_prefix,
                              len(events))

    assert sorted(item["type"] for item in read) == sorted(e.event_type for e in events)
    assert all(item["offset"] == 0 and item["key"] == ticket_id.encode() for item in read)
    assert {item["data"]["ticket_id"] for item in read} == {ticket_id}

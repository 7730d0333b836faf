"""On a real broker: a consumer applying records that arrive one by one commits its offsets in
far fewer requests than batches (it was one awaited commit per batch), every applied record's
offset is committed soon after, and what is left is committed when the consumer stops."""

import asyncio
import logging
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faststream.kafka import KafkaBroker
from opentelemetry.trace import NoOpTracer
from runtime_support import RuntimeDatabase, created

from helpline_devstack.kafka import KafkaNode
from helpline_devstack.testing import unique_name
from helpline_shared.envelope import Envelope, to_record
from helpline_shared.events import TicketCreated
from helpline_shared.runtime.consumer import DeadLetters, HandlerTable, subscribe_table
from helpline_shared.runtime.testing import RecordingProducer
from helpline_shared.runtime.uow import SqlUnitOfWork

pytestmark = pytest.mark.integration

RECORDS = 12


async def test_offsets_are_committed_in_fewer_requests_than_batches(
    kafka: KafkaNode, sqlite_runtime: RuntimeDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic, group = unique_name("commits"), unique_name("g")
    kafka.create_topics([topic], 1)
    commits: list[dict[TopicPartition, int]] = []
    commit = AIOKafkaConsumer.commit

    async def counted(self: AIOKafkaConsumer, offsets: Any = None) -> None:
        commits.append(dict(offsets or {}))
        await commit(self, offsets)

    monkeypatch.setattr(AIOKafkaConsumer, "commit", counted)
    applied: list[str] = []

    async def apply(_uow: SqlUnitOfWork, envelope: Envelope) -> None:
        assert isinstance(envelope.event, TicketCreated)
        applied.append(envelope.event.ticket_id)

    broker = KafkaBroker(kafka.bootstrap_servers, logger=logging.getLogger("helpline.kafka"))
    subscribe_table(
        broker,
        topics=[topic],
        group=group,
        table=HandlerTable("offsets", {TicketCreated: apply}),
        unit_of_work=sqlite_runtime.unit_of_work,
        dead_letters=DeadLetters(RecordingProducer(), group),
        tracer=NoOpTracer(),
        fetch_max_wait_ms=10,
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    await broker.start()
    try:
        for number in range(RECORDS):
            record = to_record(created(f"t{number}"), source="/t", event_id=None)
            await producer.send_and_wait(
                topic, value=record.value, key=record.key, headers=list(record.headers)
            )
            for _ in range(200):  # applied (one batch each) before the next is sent
                if len(applied) > number:
                    break
                await asyncio.sleep(0.01)
        assert applied == [f"t{number}" for number in range(RECORDS)]
        for _ in range(200):  # the last offsets are committed soon after, not at stop only
            if commits and commits[-1] == {TopicPartition(topic, 0): RECORDS}:
                break
            await asyncio.sleep(0.01)
        assert commits[-1] == {TopicPartition(topic, 0): RECORDS}
        assert 1 <= len(commits) < RECORDS, commits
    finally:
        await broker.stop()
        await producer.stop()

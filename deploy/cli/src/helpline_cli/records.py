"""Reading Helpline topics as operators need to: dead letters, replays, a readable tail."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from helpline_shared.envelope import PoisonMessage, from_record
from helpline_shared.kafka_security import PLAINTEXT, KafkaSecurity, aiokafka_options
from helpline_shared.topics import DEAD_LETTER_SUFFIX

DLQ_HEADER_PREFIX = "helpline-dlq-"


class UnknownTopic(Exception):
    """The topic does not exist on the broker."""


@dataclass(frozen=True)
class DeadLetter:
    """A record in a dead-letter topic, and why it got there."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int = 0
    """When it was dead-lettered (the record's timestamp, milliseconds since the epoch)."""

    @property
    def time(self) -> datetime:
        """When it was dead-lettered."""
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    def summary(self) -> dict[str, Any]:
        """What ``dlq list -o json`` shows of it (the value as text, cut to 2000 characters)."""
        return {
            "partition": self.partition,
            "offset": self.offset,
            "time": self.time.isoformat(timespec="milliseconds"),
            "key": (self.key or b"").decode(errors="replace"),
            "type": self.header("ce_type"),
            "id": self.header("ce_id"),
            "original_topic": self.original_topic,
            "group": self.header(DLQ_HEADER_PREFIX + "group"),
            "attempts": self.header(DLQ_HEADER_PREFIX + "attempts"),
            "error": self.header(DLQ_HEADER_PREFIX + "error"),
            "value": (self.value or b"").decode(errors="replace")[:2000],
        }

    def header(self, name: str) -> str:
        """The text of header ``name`` (empty when absent)."""
        return next((v.decode(errors="replace") for k, v in self.headers if k == name), "")

    @property
    def original_topic(self) -> str:
        """The topic the record failed on (where a replay sends it back)."""
        return self.header(DLQ_HEADER_PREFIX + "topic")

    @property
    def original_headers(self) -> list[tuple[str, bytes]]:
        """The record's headers as first published, without the dead-letter annotations."""
        return [(k, v) for k, v in self.headers if not k.startswith(DLQ_HEADER_PREFIX)]


def _consumer(bootstrap_servers: str, start: str, security: KafkaSecurity) -> AIOKafkaConsumer:
    # The reset policy must match the seek: an assignment starts a reset of its own, and if
    # that one answers last it wins over seek_to_beginning/seek_to_end.
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        client_id="helpline-cli",
        group_id=None,
        auto_offset_reset=start,
        **aiokafka_options(security),
    )


async def _partitions(
    bootstrap_servers: str, topic: str, security: KafkaSecurity, patience: float = 10.0
) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, client_id="helpline-cli", **aiokafka_options(security)
    )
    await admin.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        while True:
            [description] = await admin.describe_topics([topic])
            partitions = {item["partition"] for item in description["partitions"]}
            # A topic created a moment ago may not have its partitions in the metadata yet.
            if partitions or loop.time() > deadline:
                break
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    if not partitions:
        raise UnknownTopic(topic)
    return [TopicPartition(topic, partition) for partition in sorted(partitions)]


async def read_all(
    bootstrap_servers: str, topic: str, security: KafkaSecurity = PLAINTEXT
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record now in ``topic``, from its beginning to its current end."""
    consumer = _consumer(bootstrap_servers, "earliest", security)
    await consumer.start()
    try:
        partitions = await _partitions(bootstrap_servers, topic, security)
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        remaining = {tp for tp in partitions if ends[tp] > await consumer.position(tp)}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, items in batch.items():
                records.extend(record for record in items if record.offset < ends[tp])
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
        return records
    finally:
        await consumer.stop()


async def dead_letters(
    bootstrap_servers: str, topic: str, security: KafkaSecurity = PLAINTEXT
) -> list[DeadLetter]:
    """The dead letters of ``topic`` (a consumed topic, or its ``.dlq`` topic itself)."""
    dlq = topic if topic.endswith(DEAD_LETTER_SUFFIX) else topic + DEAD_LETTER_SUFFIX
    return [
        DeadLetter(r.partition, r.offset, r.key, r.value, tuple(r.headers or ()), r.timestamp)
        for r in await read_all(bootstrap_servers, dlq, security)
    ]


async def replay(
    bootstrap_servers: str,
    letters: list[DeadLetter],
    progress: Callable[[DeadLetter], None] = lambda _letter: None,
    security: KafkaSecurity = PLAINTEXT,
) -> int:
    """Republish each dead letter, as first published, to the topic it failed on."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        client_id="helpline-cli",
        **aiokafka_options(security),
    )
    await producer.start()
    try:
        for letter in letters:
            await producer.send_and_wait(
                letter.original_topic,
                value=letter.value,
                key=letter.key,
                headers=letter.original_headers,
            )
            progress(letter)
    finally:
        await producer.stop()
    return len(letters)


def describe(record: ConsumerRecord[bytes, bytes], with_data: bool) -> str:
    """One readable line for a record: time, type, subject and id (and the data if asked)."""
    headers = list(record.headers or ())
    where = f"{record.topic}[{record.partition}]@{record.offset}"
    try:
        envelope = from_record(headers, record.value)
    except PoisonMessage as error:
        return f"{where} not a Helpline event: {error}"
    line = (
        f"{envelope.time.isoformat(timespec='seconds')} {envelope.type} "
        f"subject={envelope.subject} id={envelope.id} {where}"
    )
    if with_data:
        line += " " + json.dumps(envelope.event.model_dump(mode="json"), sort_keys=True)
    return line


async def follow(
    bootstrap_servers: str,
    topic: str,
    from_beginning: bool,
    limit: int | None,
    idle_seconds: float | None,
    security: KafkaSecurity = PLAINTEXT,
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Records of ``topic`` as they arrive; stops after ``limit`` records or idle seconds."""
    consumer = _consumer(bootstrap_servers, "earliest" if from_beginning else "latest", security)
    await consumer.start()
    try:
        partitions = await _partitions(bootstrap_servers, topic, security)
        consumer.assign(partitions)
        if from_beginning:
            await consumer.seek_to_beginning(*partitions)
        else:
            await consumer.seek_to_end(*partitions)
        seen = 0
        loop = asyncio.get_running_loop()
        last = loop.time()
        while limit is None or seen < limit:
            batch: dict[Any, list[ConsumerRecord[bytes, bytes]]] = await consumer.getmany(
                timeout_ms=500
            )
            for items in batch.values():
                for record in items:
                    if limit is not None and seen >= limit:
                        return
                    seen += 1
                    last = loop.time()
                    yield record
            if idle_seconds is not None and loop.time() - last > idle_seconds:
                return
    finally:
        await consumer.stop()

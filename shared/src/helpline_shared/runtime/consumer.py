"""Idempotent, poison-proof Kafka consumers on FastStream.

A subscriber decodes each CloudEvent and calls one handler. Offsets are committed only after the
handler returns (the handler commits its own transaction first, with the event's ``ce_id`` in the
inbox). A record that cannot be decoded, or whose handler keeps failing, goes to the topic's
dead-letter topic with the error in its headers, and the partition moves on. Infrastructure
outages (database or broker unreachable) are not the message's fault: those are retried forever.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from opentelemetry import propagate
from opentelemetry.trace import Span, SpanKind, Tracer
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.exc import DBAPIError, OperationalError

from helpline_shared.envelope import Envelope, PoisonMessage, from_record
from helpline_shared.runtime.producer import EventProducer
from helpline_shared.runtime.telemetry import kafka_attributes
from helpline_shared.topics import dead_letter_topic

log = logging.getLogger(__name__)

Handler = Callable[[Envelope], Awaitable[None]]

EVENTS_CONSUMED = Counter(
    "helpline_events_consumed_total",
    "Events handled by a consumer, by outcome",
    ["group", "topic", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "helpline_handler_seconds", "Time to handle one event", ["group", "topic"]
)
DEAD_LETTERS = Counter(
    "helpline_dead_letters_total", "Records sent to a dead-letter topic", ["group", "topic"]
)
CONSUMER_LAG = Gauge(
    "helpline_consumer_lag",
    "Records of a partition after the one just handled (high watermark - offset - 1)",
    ["group", "topic", "partition"],
)

MAX_POLL_INTERVAL_MS = 60_000
BATCH_TIME_BUDGET = MAX_POLL_INTERVAL_MS / 1000 / 2
"""Seconds a consumer spends on one batch before it leaves the rest for its next poll."""

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OperationalError, ConnectionError, OSError)


def is_transient(error: BaseException) -> bool:
    """True when ``error`` is an outage to wait out rather than a fault of the message."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, TRANSIENT_ERRORS)


class DeadLetters:
    """Sends records that cannot be processed to their dead-letter topic, error attached."""

    def __init__(self, producer: EventProducer, group: str) -> None:
        self._producer = producer
        self._group = group

    async def send(self, record: ConsumerRecord[Any, Any], error: BaseException, attempts: int
                   ) -> None:
        """Publish ``record`` unchanged to its dead-letter topic with why it failed."""
        reason = f"{type(error).__name__}: {error}"[:2000]
        headers = [
            *(record.headers or ()),
            ("helpline-dlq-error", reason.encode()),
            ("helpline-dlq-error-type", type(error).__name__.encode()),
            ("helpline-dlq-topic", record.topic.encode()),
            ("helpline-dlq-partition", str(record.partition).encode()),
            ("helpline-dlq-offset", str(record.offset).encode()),
            ("helpline-dlq-group", self._group.encode()),
            ("helpline-dlq-attempts", str(attempts).encode()),
        ]
        await self._producer.send_and_wait(
            dead_letter_topic(record.topic), value=record.value, key=record.key, headers=headers
        )
        DEAD_LETTERS.labels(self._group, record.topic).inc()
        log.warning(
            "record sent to dead-letter topic",
            extra={"topic": record.topic, "partition": record.partition,
                   "offset": record.offset, "group": self._group, "error": reason[:300]},
        )


async def _raw_batch(message: KafkaMessage) -> object:
    # Keep FastStream from decoding JSON itself: a record that is not JSON must reach our
    # handler so that it can go to the dead-letter topic instead of failing forever.
    return message.body


def subscribe(
    broker: KafkaBroker,
    *,
    topics: Sequence[str],
    group: str,
    handler: Handler,
    dead_letters: DeadLetters,
    tracer: Tracer,
    batch_size: int = 100,
    max_attempts: int = 3,
    retry_delay: float = 0.2,
) -> None:
    """Register ``handler`` for ``topics`` in consumer group ``group`` on ``broker``.

    Records arrive in batches of up to ``batch_size`` (what the broker has ready, no waiting
    for a full batch) and are handled one by one, in partition order, each in its own
    transaction. The offsets are committed once per batch: profiling showed the commit after
    every record costing more than most handlers. A transient failure rewinds the whole batch;
    the records already handled are then skipped by the handlers' inbox.
    """

    @broker.subscriber(
        *topics,
        group_id=group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        batch=True,
        max_records=batch_size,
        # FastStream sleeps this long again after an empty poll: keep it short, or a record
        # arriving on a quiet topic waits up to twice this long.
        batch_timeout_ms=20,
        decoder=_raw_batch,
        max_poll_interval_ms=MAX_POLL_INTERVAL_MS,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
    )
    async def consume(body: object, message: KafkaMessage) -> None:
        records: tuple[ConsumerRecord[Any, Any], ...] = message.raw_message  # type: ignore[assignment]
        deadline = time.monotonic() + BATCH_TIME_BUDGET
        for index, record in enumerate(records):
            if time.monotonic() > deadline:
                # Poll again long before max.poll.interval runs out, or the group would evict
                # this member mid-batch; the rest of the batch is read again from Kafka.
                _rewind(message.consumer, records[index:])
                break
            started = time.perf_counter()
            with _consumer_span(tracer, record, group):
                outcome = await _handle(record, handler, dead_letters, max_attempts,
                                        retry_delay)
            HANDLER_SECONDS.labels(group, record.topic).observe(time.perf_counter() - started)
            EVENTS_CONSUMED.labels(group, record.topic, outcome).inc()
            _observe_lag(message, record, group)


def _rewind(consumer: Any, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
    """Move each partition back to the first of ``records`` it has, so they are fetched again
    and the commit after this batch covers only what was handled."""
    first: dict[TopicPartition, int] = {}
    for record in records:
        partition = TopicPartition(record.topic, record.partition)
        first[partition] = min(first.get(partition, record.offset), record.offset)
    for partition, offset in first.items():
        consumer.seek(partition, offset)


def _consumer_span(tracer: Tracer, record: ConsumerRecord[Any, Any], group: str
                   ) -> AbstractContextManager[Span]:
    # One span per record, child of the producer's context carried in the record's headers:
    # each ticket keeps one trace across services even though records arrive in batches.
    carrier = {name: value.decode(errors="replace") for name, value in record.headers or ()}
    return tracer.start_as_current_span(
        f"process {record.topic}",
        context=propagate.extract(carrier),
        kind=SpanKind.CONSUMER,
        attributes={
            **kafka_attributes("process", record.topic, message_id=carrier.get("ce_id", ""),
                               key=record.key),
            "messaging.consumer.group.name": group,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
        },
    )


def _observe_lag(message: KafkaMessage, record: ConsumerRecord[Any, Any], group: str) -> None:
    # The consumer knows each assigned partition's high watermark from its last fetch.
    highwater = getattr(message.consumer, "highwater", None)
    end = highwater(TopicPartition(record.topic, record.partition)) if highwater else None
    if isinstance(end, int):
        CONSUMER_LAG.labels(group, record.topic, str(record.partition)).set(
            max(end - record.offset - 1, 0))


async def _handle(
    record: ConsumerRecord[Any, Any],
    handler: Handler,
    dead_letters: DeadLetters,
    max_attempts: int,
    retry_delay: float,
) -> str:
    try:
        envelope = from_record(record.headers or (), record.value)
    except PoisonMessage as error:
        await dead_letters.send(record, error, attempts=0)
        return "dead_lettered"
    attempt = 0
    while True:
        attempt += 1
        try:
            await handler(envelope)
            return "handled"
        except Exception as error:
            if is_transient(error):
                log.warning("transient failure, the record will be redelivered",
                            extra={"event_type": envelope.type, "error": str(error)[:300]})
                await asyncio.sleep(1.0)
                raise
            if attempt >= max_attempts:
                await dead_letters.send(record, error, attempts=attempt)
                return "dead_lettered"
            log.warning("handler failed, retrying",
                        extra={"event_type": envelope.type, "attempt": attempt,
                               "error": str(error)[:300]})
            await asyncio.sleep(retry_delay * attempt)

"""Idempotent, poison-proof Kafka consumers on FastStream.

A service registers ``apply(uow, envelope)`` functions by event type in one ``HandlerTable``; the
runtime owns the unit of work. It reads each record's ``ce_type`` header and skips, undecoded,
the records no handler wants; it applies a partition's share of a consumed batch in one
transaction: the handlers' statements, then at commit the claim of the batch's inbox rows and the
insert of its outbox rows (one statement on PostgreSQL), one commit. If that fails for a fault
of a message (or the claim meets an event applied before), the batch is rolled back and replayed
one record per transaction, each claimed first: a record whose handler keeps failing, or that
cannot be decoded, goes to the topic's dead-letter topic with the error in its headers, and the
partition moves on.
Infrastructure outages (database or broker unreachable) are not the message's fault: the records
are read again, for as long as the outage lasts. Offsets are committed after the batch, in the
background and at most one commit request per ``OFFSET_COMMIT_INTERVAL`` (``OffsetCommits``).
"""

import asyncio
import logging
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence, Set
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiokafka import ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.message import FakeConsumer, KafkaMessage
from faststream.message import AckStatus
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.trace import Span, SpanKind, Tracer
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.exc import DBAPIError, OperationalError

from helpline_shared.envelope import Envelope, PoisonMessage, from_record
from helpline_shared.events import Event
from helpline_shared.runtime.producer import EventProducer
from helpline_shared.runtime.settings import FETCH_MAX_WAIT_MS
from helpline_shared.runtime.telemetry import kafka_attributes
from helpline_shared.runtime.uow import AppliedBefore, RowWrittenBefore, SqlUnitOfWork
from helpline_shared.topics import dead_letter_topic

log = logging.getLogger(__name__)

UnitOfWorkT = TypeVar("UnitOfWorkT", bound=SqlUnitOfWork)
Apply = Callable[[UnitOfWorkT, Envelope], Awaitable[None]]
Unneeded = Callable[[Sequence[Envelope]], Awaitable[Set[str]]]
"""Given a partition's decoded envelopes, the ``ce_id`` of those whose handler would change
nothing now: they are acknowledged without a transaction or an inbox row."""
Prepare = Callable[[UnitOfWorkT, Sequence[Envelope]], Awaitable[None]]
"""Given the open unit of work and the envelopes a transaction is about to apply (in order),
load what their handlers will read, in as few statements as it can (one SELECT for a batch's
rows instead of one per record). Only an optimisation: each handler still reads what it needs,
and finds it already loaded."""
Record = ConsumerRecord[Any, Any]

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

    async def send(
        self, record: ConsumerRecord[Any, Any], error: BaseException, attempts: int
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
            extra={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "group": self._group,
                "error": reason[:300],
            },
        )


async def _the_message(message: KafkaMessage) -> KafkaMessage:
    # The handler's one argument is FastStream's message itself: it is not decoded as JSON (a
    # record that is not JSON must reach the handler, to go to the dead-letter topic), and no
    # ``message: KafkaMessage`` context parameter is injected, which FastStream resolves in a
    # worker thread for every batch (a thread hop and a wake-up per batch in the profile).
    # FastStream refuses a parameter annotated with its message class, so the handlers take
    # ``object`` and read it through ``_records``.
    return message


def _records(message: object) -> tuple[tuple[Record, ...], Any]:
    """The batch's records and the consumer they came from."""
    assert isinstance(message, KafkaMessage)
    return message.raw_message, message.consumer  # type: ignore[return-value]


IDLE_POLL_MS = 1_000
"""How long one poll waits for a first record before the loop polls again."""

HAND_OFF_TURNS = 4
"""Turns of the event loop the subscriber's loop gives other tasks after each batch.

Neither the next poll (while fetched records wait, aiokafka returns them without yielding) nor
a batch (SQLite runs in the loop's thread) gives the loop a turn: under a backlog, the outbox
rows a batch handed to the relay waited for the batches after it. Publishing them takes a turn
for the relay (into the producer's accumulator), one for the producer's sender and one for the
task it creates to write the request; the HTTP requests and timers waiting get theirs too."""

OFFSET_COMMIT_INTERVAL = 0.25
"""Seconds between two offset commits of a consumer (the first after a quiet spell goes at once).

A commit after each batch was one OffsetCommit request per batch, awaited before the next poll:
at 50 tickets/s a batch is a record or two, so nearly a round trip to the broker per record and
service. Offsets committed later only mean that a crash redelivers up to this much more, which
the inbox makes duplicates."""


class OffsetCommits:
    """Commits the positions of handled batches in the background, one request at a time and at
    most one per ``interval``; ``flush`` commits what is left (at stop).

    A position is the offset of the next record to read of a partition after a batch: the one
    after its last record, or where the batch rewound it (``_NotingSeeks``). Commits carry these
    explicit offsets, never the consumer's current positions (which may already be past records
    of a batch being applied). A failed commit (a rebalance, the broker away) is dropped: the
    next carries newer offsets, and what was not committed is redelivered and skipped by the
    inbox.
    """

    def __init__(
        self, interval: float = OFFSET_COMMIT_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._pending: dict[TopicPartition, int] = {}
        self._consumer: Any = None
        self._last = -interval
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def handled(self, consumer: Any, positions: Mapping[TopicPartition, int]) -> None:
        """Commit ``positions`` soon."""
        self._consumer = consumer
        self._pending.update(positions)
        if self._timer is None and (self._task is None or self._task.done()):
            delay = self._last + self._interval - self._clock()
            if delay <= 0:
                self._start()
            else:
                self._timer = asyncio.get_running_loop().call_later(delay, self._start)

    def _start(self) -> None:
        self._timer = None
        self._task = asyncio.create_task(self._commit_then_again(), name="offset-commit")

    async def _commit_then_again(self) -> None:
        await self.flush()
        if self._pending and self._timer is None:  # batches handled during the commit
            self._timer = asyncio.get_running_loop().call_later(self._interval, self._start)

    async def flush(self) -> None:
        """Commit the positions not committed yet, now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        async with self._lock:
            offsets, self._pending = self._pending, {}
            if not offsets:
                return
            self._last = self._clock()
            assignment = getattr(self._consumer, "assignment", None)
            if assignment is not None:  # a partition revoked meanwhile is another's to commit
                assigned = assignment()
                offsets = {tp: offset for tp, offset in offsets.items() if tp in assigned}
            try:
                if offsets:
                    await self._consumer.commit(offsets)
            except Exception as error:  # noqa: BLE001 - the next commit carries newer offsets
                log.warning(
                    "offset commit failed; the records after the last commit may be redelivered",
                    extra={"error": str(error)[:300]},
                )


class _NotingSeeks:
    """The consumer a batch came from, noting where ``_rewind`` moved each partition back."""

    __slots__ = ("consumer", "seeks")

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer
        self.seeks: dict[TopicPartition, int] = {}

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks[partition] = offset
        self.consumer.seek(partition, offset)

    def highwater(self, partition: TopicPartition) -> int | None:
        highwater = getattr(self.consumer, "highwater", None)
        return highwater(partition) if highwater else None


def positions_after(
    records: Sequence[Record], seeks: Mapping[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """Each partition's offset to commit after ``records`` were handled: the one after its last
    record, or where it was rewound to."""
    positions: dict[TopicPartition, int] = {}
    for record in records:
        partition = TopicPartition(record.topic, record.partition)
        positions[partition] = max(positions.get(partition, 0), record.offset + 1)
    positions.update(seeks)
    return positions


def _batch_subscriber(
    broker: KafkaBroker,
    topics: Sequence[str],
    group: str,
    batch_size: int,
    fetch_max_wait_ms: int = FETCH_MAX_WAIT_MS,
    direct: Callable[[tuple[Record, ...], Any], Awaitable[None]] | None = None,
) -> Any:
    """FastStream's batch subscriber as every consumer of Helpline configures it (call it with
    the handler).

    With ``direct``, each batch its loop polls is handed to ``direct(records, consumer)``
    instead of going through FastStream's processing (its middlewares, parser, dependency
    injection and acknowledgement: about 170 µs of CPU a batch, measured through
    ``subscriber.consume``); the handler then serves only FastStream's test broker. ``direct``
    acknowledges nothing: it commits its own offsets.
    """
    subscriber = broker.subscriber(
        *topics,
        group_id=group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        batch=True,
        max_records=batch_size,
        # Unused: ``next_batch`` below replaces FastStream's poll, which slept this long again
        # after an empty one.
        batch_timeout_ms=IDLE_POLL_MS,
        decoder=_the_message,
        max_poll_interval_ms=MAX_POLL_INTERVAL_MS,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
        fetch_max_wait_ms=fetch_max_wait_ms,
    )

    async def next_batch(consumer: Any) -> tuple[Record, ...]:
        # FastStream's own batch poll sleeps ``batch_timeout_ms`` again after an empty one, so
        # a record arriving then waits for the sleep to end (up to 20 ms a hop at the 20 ms we
        # used, and 25 wake-ups a second per idle subscriber). ``getmany`` already returns as
        # soon as a record is fetched: wait in it alone. ``stop`` ends the wait
        # (ConsumerStoppedError).
        polled[0] = consumer
        batches = await consumer.getmany(timeout_ms=IDLE_POLL_MS, max_records=batch_size)
        return tuple(record for records in batches.values() for record in records)

    polled: list[Any] = [None]  # the consumer the loop polls (FastStream makes it at start)
    subscriber.get_msg = next_batch  # type: ignore[method-assign]
    if direct is not None:

        async def consume_one(records: tuple[Record, ...]) -> None:
            # What FastStream's ``consume`` keeps of its own: nothing once stopping (the
            # records are not committed: read again after the restart), the lock its ``stop``
            # waits on, and a failure rewinding the batch (its NACK) instead of ending the loop.
            if not subscriber.running:
                return
            with subscriber.lock:
                try:
                    await direct(records, polled[0])
                except Exception:
                    log.exception("consumed batch failed; its records are read again")
                    _rewind(polled[0], records)
            for _ in range(HAND_OFF_TURNS):
                await asyncio.sleep(0)

        subscriber.consume_one = consume_one  # type: ignore[method-assign, assignment]
    return subscriber


def _rewind(consumer: Any, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
    """Move each partition back to the first of ``records`` it has, so they are fetched again
    and the commit after this batch covers only what was handled."""
    first: dict[TopicPartition, int] = {}
    for record in records:
        partition = TopicPartition(record.topic, record.partition)
        first[partition] = min(first.get(partition, record.offset), record.offset)
    for partition, offset in first.items():
        consumer.seek(partition, offset)


def _consumer_span(
    tracer: Tracer,
    record: ConsumerRecord[Any, Any],
    group: str,
    envelope: Envelope | None = None,
) -> AbstractContextManager[Span]:
    # One span per record, child of the producer's context carried in the record's headers:
    # each ticket keeps one trace across services even though records arrive in batches.
    # A decoded envelope already holds the headers as text (the trace context among its
    # extensions): they are not decoded a second time.
    if envelope is not None:
        carrier: Mapping[str, str] = envelope.extensions
        message_id = envelope.id
    else:
        carrier = {name: value.decode(errors="replace") for name, value in record.headers or ()}
        message_id = carrier.get("ce_id", "")
    return tracer.start_as_current_span(
        f"process {record.topic}",
        context=propagate.extract(carrier),
        kind=SpanKind.CONSUMER,
        attributes={
            **kafka_attributes("process", record.topic, message_id=message_id, key=record.key),
            "messaging.consumer.group.name": group,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
        },
    )


def _observe_lag(consumer: Any, record: ConsumerRecord[Any, Any], group: str) -> None:
    # The consumer knows each assigned partition's high watermark from its last fetch.
    highwater = getattr(consumer, "highwater", None)
    end = highwater(TopicPartition(record.topic, record.partition)) if highwater else None
    if isinstance(end, int):
        CONSUMER_LAG.labels(group, record.topic, str(record.partition)).set(
            max(end - record.offset - 1, 0)
        )


def _observe_lags(consumer: Any, records: Sequence[ConsumerRecord[Any, Any]], group: str) -> None:
    # The lag of each partition after the last of ``records`` it has.
    last: dict[tuple[str, int], ConsumerRecord[Any, Any]] = {}
    for record in records:
        last[record.topic, record.partition] = record
    for record in last.values():
        _observe_lag(consumer, record, group)


class HandlerTable(Generic[UnitOfWorkT]):
    """The function that applies each event type, for one consumer (the name in its inbox)."""

    def __init__(
        self,
        consumer: str,
        handlers: Mapping[type[Event] | str, Apply[UnitOfWorkT]] | None = None,
        *,
        unneeded: Unneeded | None = None,
        prepare: Prepare[UnitOfWorkT] | None = None,
    ) -> None:
        self.consumer = consumer
        self.unneeded = unneeded
        """Optional: which records to acknowledge unapplied (see ``Unneeded``)."""
        self.prepare = prepare
        """Optional: what to load for a batch before its handlers run (see ``Prepare``)."""
        self._handlers: dict[str, Apply[UnitOfWorkT]] = {}
        for event_type, apply in (handlers or {}).items():
            self.register(event_type, apply)

    def register(self, event_type: type[Event] | str, apply: Apply[UnitOfWorkT]) -> None:
        """Apply events of ``event_type`` with ``apply``; one function per type."""
        name = event_type if isinstance(event_type, str) else event_type.event_type
        if name in self._handlers:
            raise ValueError(f"{name} already has a handler in {self.consumer}'s table")
        self._handlers[name] = apply

    def get(self, ce_type: str) -> Apply[UnitOfWorkT] | None:
        """The function applying ``ce_type``, or None when this consumer does not want it."""
        return self._handlers.get(ce_type)

    @property
    def event_types(self) -> frozenset[str]:
        """The event types this table applies."""
        return frozenset(self._handlers)


def ce_type(record: Record) -> str | None:
    """The record's ``ce_type`` header, read without decoding the record."""
    for name, value in record.headers or ():
        if name == "ce_type":
            return bytes(value).decode(errors="replace")
    return None


@dataclass(frozen=True)
class _Item(Generic[UnitOfWorkT]):
    record: Record
    envelope: Envelope | None
    apply: Apply[UnitOfWorkT] | None
    poison: PoisonMessage | None = None


class _Rewound(Exception):
    """The records from here on are read again from Kafka (after a pause if ``wait``)."""

    def __init__(self, wait: bool) -> None:
        super().__init__()
        self.wait = wait


class _Metrics:
    """The consumer's metric children by topic, looked up once (``labels`` takes a lock and
    builds a key each call: per record, it showed in the profile)."""

    def __init__(self, group: str) -> None:
        self._group = group
        self._consumed: dict[tuple[str, str], Any] = {}
        self._seconds: dict[str, Any] = {}

    def consumed(self, topic: str, outcome: str, count: int = 1) -> None:
        child = self._consumed.get((topic, outcome))
        if child is None:
            child = self._consumed[topic, outcome] = EVENTS_CONSUMED.labels(
                self._group, topic, outcome
            )
        child.inc(count)

    def handled_in(self, topic: str, seconds: float) -> None:
        child = self._seconds.get(topic)
        if child is None:
            child = self._seconds[topic] = HANDLER_SECONDS.labels(self._group, topic)
        child.observe(seconds)


class TableConsumer(Generic[UnitOfWorkT]):
    """Applies consumed batches through a handler table; the runtime owns each transaction."""

    def __init__(
        self,
        *,
        table: HandlerTable[UnitOfWorkT],
        unit_of_work: Callable[[], UnitOfWorkT],
        dead_letters: DeadLetters,
        tracer: Tracer | None,
        group: str,
        max_attempts: int = 3,
        retry_delay: float = 0.2,
        transient_delay: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        time_budget: float | None = None,
    ) -> None:
        self._table = table
        self._unit_of_work = unit_of_work
        self._dead_letters = dead_letters
        self._tracer = tracer
        self._group = group
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay
        self._transient_delay = transient_delay
        self._sleep = sleep
        self._clock = clock
        self._time_budget = BATCH_TIME_BUDGET if time_budget is None else time_budget
        self._metrics = _Metrics(group)

    async def consume(self, records: Sequence[Record], consumer: Any) -> None:
        """Apply ``records`` (what one poll returned, from any partitions) in one transaction,
        each partition's records in offset order; rewind ``consumer`` over what is left.

        One transaction per poll, not per partition: at a few records per partition (a service
        reads 6 partitions of each of its topics) a transaction per partition cost every
        service a commit, an inbox claim and an outbox insert per record or two. A failure is
        still confined to records: the batch is applied again one record per transaction."""
        deadline = self._clock() + self._time_budget
        ordered = [record for partition in _by_partition(records) for record in partition]
        try:
            await self._consume_records(ordered, consumer, deadline)
        except _Rewound as rewound:
            if rewound.wait:
                await self._sleep(self._transient_delay)

    async def _consume_records(
        self, records: Sequence[Record], consumer: Any, deadline: float
    ) -> None:
        items = list(self._wanted(records))
        if self._table.unneeded is not None and items:
            items = await self._without_unneeded(items, consumer, records)
        if not items:
            _observe_lags(consumer, records, self._group)
            return
        try:
            applicable = [item for item in items if item.envelope is not None]
            try:
                cut = await self._apply_batch(applicable, deadline)
            except AppliedBefore:
                # A redelivery (after a crash, an outage, a rebalance): once more, each event
                # claimed before it is applied, so those applied before are skipped.
                cut = await self._apply_batch(applicable, deadline, claim_first=True)
        except Exception as error:
            if is_transient(error):
                _log_transient(error)
                _rewind(consumer, records)
                raise _Rewound(wait=True) from error
            log.warning(
                "batch failed; applying its records one per transaction",
                extra={"batch_size": len(items), "error": str(error)[:300]},
            )
            for index, item in enumerate(items):
                try:
                    if self._clock() > deadline:
                        raise _Rewound(wait=False)  # retries took the batch's time budget
                    outcome = await self._alone(item)
                except _Rewound:
                    _rewind(consumer, [later.record for later in items[index:]])
                    raise
                self._metrics.consumed(item.record.topic, outcome)
                _observe_lag(consumer, item.record, self._group)
            return
        if cut is not None:
            # The batch took its time budget: what was applied is committed, the rest (and any
            # poison among it) is read again from Kafka. ``records`` are in partition and
            # offset order: those from the first not applied on are left.
            left = next(index for index, record in enumerate(records) if record is cut.record)
            _rewind(consumer, records[left:])
            records = records[:left]
            items = items[: items.index(cut)]  # in the same order as ``records``
        for item in items:
            if item.poison is not None:
                await self._dead_letters.send(item.record, item.poison, attempts=0)
                self._metrics.consumed(item.record.topic, "dead_lettered")
        _observe_lags(consumer, records, self._group)
        if cut is not None:
            raise _Rewound(wait=False)

    async def _without_unneeded(
        self, items: list[_Item[UnitOfWorkT]], consumer: Any, records: Sequence[Record]
    ) -> list[_Item[UnitOfWorkT]]:
        assert self._table.unneeded is not None
        try:
            unneeded = await self._table.unneeded(
                [item.envelope for item in items if item.envelope is not None]
            )
        except Exception as error:
            if is_transient(error):
                _log_transient(error)
                _rewind(consumer, records)
                raise _Rewound(wait=True) from error
            # Only an optimisation: the handlers decide what each record needs.
            log.warning("unneeded-records check failed", extra={"error": str(error)[:300]})
            return items
        if not unneeded:
            return items
        kept = []
        for item in items:
            if item.envelope is not None and item.envelope.id in unneeded:
                self._metrics.consumed(item.record.topic, "unneeded")
            else:
                kept.append(item)
        return kept

    def _wanted(self, records: Iterable[Record]) -> Iterable[_Item[UnitOfWorkT]]:
        for record in records:
            kind = ce_type(record)
            apply = self._table.get(kind) if kind is not None else None
            if kind is not None and apply is None:
                self._metrics.consumed(record.topic, "skipped")
                continue
            try:
                envelope = from_record(record.headers or (), record.value)
            except PoisonMessage as error:
                yield _Item(record, None, None, error)
            else:
                yield _Item(record, envelope, apply)

    async def _apply_batch(
        self, items: Sequence[_Item[UnitOfWorkT]], deadline: float, *, claim_first: bool = False
    ) -> _Item[UnitOfWorkT] | None:
        """Apply ``items`` in one transaction; if the time budget runs out first, commit those
        applied and return the first left.

        The events are claimed by the commit's own statement (an event applied before fails it
        with ``AppliedBefore``), or with ``claim_first`` in a statement before they are applied.
        """
        if not items:
            return None
        cut: _Item[UnitOfWorkT] | None = None
        consumer = self._table.consumer
        async with self._unit_of_work() as uow:
            ids = [item.envelope.id for item in items if item.envelope is not None]
            fresh = await uow.claim_events(consumer, ids) if claim_first else set(ids)
            applied: dict[str, None] = {}
            outcomes: Tally[tuple[str, str]] = Tally()
            with uow.lent_to_handler():  # once for the batch's handlers, not per record
                if self._table.prepare is not None:
                    await self._table.prepare(
                        uow,
                        [
                            item.envelope
                            for item in items
                            if item.envelope is not None and item.envelope.id in fresh
                        ],
                    )
                for index, item in enumerate(items):
                    if index and self._clock() > deadline:
                        cut = item
                        break
                    outcome = "duplicate"
                    if item.envelope is not None and item.envelope.id in fresh:
                        fresh.discard(item.envelope.id)  # the same ce_id twice: applied once
                        applied[item.envelope.id] = None
                        await self._apply_traced(uow, item)
                        outcome = "handled"
                    outcomes[item.record.topic, outcome] += 1
            if not claim_first:
                uow.claim_at_commit(consumer, list(applied))
            elif cut is not None and fresh:
                await uow.release_events(consumer, list(fresh))  # claimed, left for later
            await uow.commit()
        for (topic, outcome), count in outcomes.items():
            self._metrics.consumed(topic, outcome, count)
        return cut

    async def _apply_traced(self, uow: UnitOfWorkT, item: _Item[UnitOfWorkT]) -> None:
        """Apply ``item`` in its producer's trace (the caller lends ``uow`` to the handler)."""
        assert item.envelope is not None and item.apply is not None
        started = time.perf_counter()
        if self._tracer is None:
            # No span when no exporter would receive it: the producer's context is made
            # current, so the record's logs and the events staged while applying it stay in the
            # ticket's trace (attached here, not through a context manager: per record).
            token = otel_context.attach(propagate.extract(item.envelope.extensions))
            try:
                await item.apply(uow, item.envelope)
            finally:
                otel_context.detach(token)
        else:
            with _consumer_span(self._tracer, item.record, self._group, item.envelope):
                await item.apply(uow, item.envelope)
        self._metrics.handled_in(item.record.topic, time.perf_counter() - started)

    async def _alone(self, item: _Item[UnitOfWorkT]) -> str:
        """Apply one record in its own transaction, with retries; dead-letter it at the end."""
        if item.poison is not None:
            await self._dead_letters.send(item.record, item.poison, attempts=0)
            return "dead_lettered"
        assert item.envelope is not None
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._unit_of_work() as uow:
                    if not await uow.claim_events(self._table.consumer, [item.envelope.id]):
                        return "duplicate"
                    with uow.lent_to_handler():
                        await self._apply_traced(uow, item)
                    await uow.commit()
                return "handled"
            except Exception as error:
                if is_transient(error):
                    _log_transient(error)
                    raise _Rewound(wait=True) from error
                if attempt >= self._max_attempts:
                    await self._dead_letters.send(item.record, error, attempts=attempt)
                    return "dead_lettered"
                log.warning(
                    "handler failed, retrying",
                    extra={
                        "event_type": item.envelope.type,
                        "attempt": attempt,
                        "error": str(error)[:300],
                    },
                )
                await self._sleep(self._retry_delay * attempt)


async def apply_alone(
    table: HandlerTable[UnitOfWorkT], uow: UnitOfWorkT, envelope: Envelope
) -> bool:
    """Apply one event through ``table`` in a transaction of its own, as the consumer's
    one-by-one path does (for tests and tools); False if unwanted or already applied."""
    apply = table.get(envelope.type)
    if apply is None:
        return False
    try:
        return await _apply_in_transaction(table.consumer, apply, uow, envelope)
    except RowWrittenBefore:
        # As the consumer replays a failed batch: the rows met are now looked for first.
        return await _apply_in_transaction(table.consumer, apply, uow, envelope)


async def _apply_in_transaction(
    consumer: str, apply: Apply[UnitOfWorkT], uow: UnitOfWorkT, envelope: Envelope
) -> bool:
    async with uow:
        if not await uow.claim_events(consumer, [envelope.id]):
            return False
        with uow.lent_to_handler():
            await apply(uow, envelope)
        await uow.commit()
    return True


def _log_transient(error: BaseException) -> None:
    log.warning(
        "transient failure, the records will be read again", extra={"error": str(error)[:300]}
    )


def _by_partition(records: Sequence[Record]) -> list[list[Record]]:
    """``records`` grouped by partition, each group in offset order."""
    groups: dict[tuple[str, int], list[Record]] = {}
    for record in records:
        groups.setdefault((record.topic, record.partition), []).append(record)
    return [sorted(group, key=lambda record: record.offset) for group in groups.values()]


def subscribe_table(
    broker: KafkaBroker,
    *,
    topics: Sequence[str],
    group: str,
    table: HandlerTable[UnitOfWorkT],
    unit_of_work: Callable[[], UnitOfWorkT],
    dead_letters: DeadLetters,
    tracer: Tracer | None,
    batch_size: int = 100,
    fetch_max_wait_ms: int = FETCH_MAX_WAIT_MS,
) -> TableConsumer[UnitOfWorkT]:
    """Consume ``topics`` in group ``group``, applying records through ``table``; with no
    ``tracer`` (no exporter would receive the spans) a record makes no span, its producer's
    trace context is made current instead."""
    consumer = TableConsumer(
        table=table,
        unit_of_work=unit_of_work,
        dead_letters=dead_letters,
        tracer=tracer,
        group=group,
    )

    commits = OffsetCommits()
    subscriber: Any = None

    async def handle(records: tuple[Record, ...], kafka: Any) -> None:
        noting = _NotingSeeks(kafka)
        await consumer.consume(records, noting)
        if isinstance(kafka, FakeConsumer):
            return  # FastStream's test broker: no offsets to commit
        commits.handled(kafka, positions_after(records, noting.seeks))
        if not subscriber.running:  # stopping: commit before the consumer is closed
            await commits.flush()

    async def consume(message: object) -> None:
        # Only FastStream's test broker comes this way (the loop hands batches to ``handle``).
        await handle(*_records(message))
        # FastStream's acknowledgement would commit now, awaited: ``commits`` does it instead.
        assert isinstance(message, KafkaMessage)
        message.committed = AckStatus.ACKED

    subscriber = _batch_subscriber(
        broker, topics, group, batch_size, fetch_max_wait_ms, direct=handle
    )
    subscriber(consume)
    stop = subscriber.stop

    async def stop_after_committing() -> None:
        subscriber.running = False  # a batch ending from here on commits before it returns
        await commits.flush()
        await stop()

    subscriber.stop = stop_after_committing
    return consumer

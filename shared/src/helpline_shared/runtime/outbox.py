"""Transactional outbox: events staged with the state change, published by a relay afterwards."""

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, StatusCode
from prometheus_client import Counter, Gauge
from sqlalchemy import (
    ARRAY,
    Row,
    Select,
    String,
    Table,
    any_,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.dml import Update

from helpline_shared.envelope import KafkaRecord, to_record
from helpline_shared.events import Event
from helpline_shared.runtime.db import AUTOCOMMIT, READ_ONLY, read_only_options, utcnow
from helpline_shared.runtime.producer import EventProducer, RecordHeaders
from helpline_shared.runtime.telemetry import exports_spans, kafka_attributes

log = logging.getLogger(__name__)

OUTBOX_BACKLOG = Gauge("helpline_outbox_backlog", "Outbox rows not yet published", ["service"])
OUTBOX_PUBLISHED = Counter(
    "helpline_outbox_published_total", "Events the relay published", ["service"]
)


def trace_headers() -> list[tuple[str, str]]:
    """W3C trace context of the current span, to travel with an event."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return sorted(carrier.items())


def outbox_row(
    event: Event, *, source: str, event_id: str | None, topic_prefix: str = ""
) -> dict[str, object]:
    """The outbox row that will become ``event``'s CloudEvent."""
    record: KafkaRecord = to_record(
        event, source=source, event_id=event_id, extra_headers=trace_headers()
    )
    headers = {name: value.decode() for name, value in record.headers}
    return {
        "event_id": headers["ce_id"],
        "topic": topic_prefix + record.topic,
        "record_key": record.key,
        "record_value": record.value,
        "headers": [[name, value.decode()] for name, value in record.headers],
        "created_at": utcnow(),
    }


@functools.cache
def mark_sent(table: Table, dialect: str) -> Update:
    """The relay's statement marking outbox rows ``event_ids`` sent at ``now`` (built once: a
    statement is immutable, and one built once has its cache key computed once). A commit
    marks in its own statement (``uow._claim_stage_and_mark``)."""
    if dialect == "postgresql":
        # One array parameter: one prepared statement whatever the number of rows (IN would
        # be a new statement, prepared in a round trip of its own, per row count).
        matches = table.c.event_id == any_(bindparam("event_ids", type_=ARRAY(String)))
    else:
        matches = table.c.event_id.in_(bindparam("event_ids", expanding=True))
    return update(table).where(matches).values(sent_at=bindparam("now"))


class Staged(NamedTuple):
    """An outbox row as the relay publishes it."""

    event_id: str
    topic: str
    record_key: bytes
    record_value: bytes
    headers: list[list[str]]


def _staged(row: dict[str, object]) -> Staged:
    return Staged(
        str(row["event_id"]),
        str(row["topic"]),
        row["record_key"],  # type: ignore[arg-type]
        row["record_value"],  # type: ignore[arg-type]
        row["headers"],  # type: ignore[arg-type]
    )


HAND_OFF_GRACE = timedelta(seconds=1)
"""How long the poll leaves a committed row to the hand-off of the relay of the process that
committed it. That relay publishes it within milliseconds but marks it sent only up to
``mark_delay`` later; a poll (of another replica's relay) in between would publish it again."""


class OutboxRelay:
    """Publishes committed outbox rows to Kafka and marks them sent.

    A unit of work hands the rows it committed to the relay of its process, which publishes
    them at once; polling the table is only the safety net for rows a crash (or another
    process) left behind.
    """

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        table: Table,
        producer: EventProducer,
        service: str,
        batch_size: int = 500,
        poll_interval: float = 0.5,
        retention: timedelta = timedelta(hours=24),
        tracer_provider: trace.TracerProvider | None = None,
        mark_delay: float = 0.05,
        hand_off_grace: timedelta = HAND_OFF_GRACE,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._table = table
        self._producer = producer
        self._service = service
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._retention = retention
        # No send span when no exporter would receive it: the record keeps the trace context
        # it was staged with, so the ticket stays one trace.
        self._tracer = (
            trace.get_tracer(__name__, tracer_provider=tracer_provider)
            if tracer_provider is None or exports_spans(tracer_provider)
            else None
        )
        self._wakeup = asyncio.Event()
        # One batch at a time in this process: the final flush at shutdown must not select the
        # rows the running loop is publishing (SQLite has no row locks to keep them apart).
        self._publishing = asyncio.Lock()
        self._stopping = False
        self._running = False
        # Until the first poll, rows a crash left behind must be published before new ones.
        self._behind = True
        self._handed: list[Staged] = []
        # Handed rows published but not yet marked sent: the next commit of a unit of work
        # marks them in its own transaction (``stage_and_commit``); the relay marks them itself
        # when no commit comes within ``mark_delay`` seconds, and always before it polls.
        self._published: list[str] = []
        self._marking: set[str] = set()
        self._mark_delay = mark_delay
        # Rows committed (``created_at``) less than this long ago are left to the hand-off;
        # the final flush at shutdown publishes them (its own hand-offs are marked first).
        self._hand_off_grace = hand_off_grace
        self._clock = clock
        self._unhanded: set[str] = set()

    def wake(self) -> None:
        """Tell the relay that something was committed (it also polls, for other processes)."""
        self._wakeup.set()

    def hand_off(self, rows: Sequence[dict[str, object]]) -> None:
        """Publish these just-committed outbox rows at once (only while the relay runs)."""
        if self._stopping:
            return  # the final flush publishes them
        if not self._running or self._behind:
            # The first poll or the next one publishes them, in id order: the hand-off grace
            # does not hold them back (no relay publishes them otherwise).
            self._unhanded.update(str(row["event_id"]) for row in rows)
        else:
            self._handed.extend(_staged(row) for row in rows)
        if self._running:
            self._wakeup.set()

    async def publish_handed(self) -> int:
        """Publish the rows handed over since the last call; they are marked sent by the next
        commit of a unit of work, or by ``mark_published``.

        If publishing fails the rows stay unsent in the table, and polling publishes them.
        """
        async with self._publishing:
            rows, self._handed = self._handed, []
            if not rows:
                return 0
            try:
                await self._send(rows)
            except BaseException:
                # Left for the poll, which must not hold them back as handed off.
                self._unhanded.update(row.event_id for row in rows)
                raise
            self._published.extend(row.event_id for row in rows)
        OUTBOX_PUBLISHED.labels(self._service).inc(len(rows))
        return len(rows)

    @property
    def has_published(self) -> bool:
        """Whether rows were published that no commit has marked sent yet."""
        return bool(self._published)

    def take_published(self) -> list[str]:
        """The ids of rows published and not yet marked sent, for a commit to mark (it calls
        ``marked`` once committed, ``give_back`` if it fails)."""
        taken, self._published = self._published, []
        self._marking.update(taken)
        return taken

    def marked(self, event_ids: Sequence[str]) -> None:
        """A commit marked these rows sent."""
        self._marking.difference_update(event_ids)

    def give_back(self, event_ids: Sequence[str]) -> None:
        """A commit that was to mark these rows failed: they are still to be marked."""
        self._marking.difference_update(event_ids)
        self._published.extend(event_ids)

    async def mark_published(self) -> int:
        """Mark sent, in one statement, the published rows no commit has marked yet."""
        async with self._publishing:
            return await self._mark_published()

    async def _mark_published(self) -> int:
        event_ids, self._published = self._published, []
        if not event_ids:
            return 0
        if self._engine.dialect.name == "sqlite":
            async with self._engine.begin() as connection:
                await self._mark_sent(connection, event_ids)
        else:
            # One statement is atomic by itself: no BEGIN and COMMIT round trips around it.
            async with self._engine.connect() as connection:
                await connection.execution_options(**AUTOCOMMIT)
                await self._mark_sent(connection, event_ids)
        return len(event_ids)

    async def publish_pending(self, *, young_too: bool = False) -> int:
        """Publish one batch of unsent rows in id order, up to the first committed within the
        hand-off grace (unless ``young_too``); return how many were published."""
        async with self._publishing:
            # Rows published through a hand-off are marked first, or the poll would select
            # them again.
            await self._mark_published()
            published = await self._publish_batch(None if young_too else self._young_since())
            self._unhanded.difference_update(published)
            if published and self._handed:
                # Rows handed over while this poll had already selected them.
                sent = set(published)
                self._handed = [row for row in self._handed if row.event_id not in sent]
            return len(published)

    def _young_since(self) -> datetime | None:
        return self._clock() - self._hand_off_grace if self._hand_off_grace else None

    async def _publish_batch(self, young_since: datetime | None) -> list[str]:
        if self._engine.dialect.name == "sqlite":
            # SQLite locks the whole database for a writer: never wait for the broker inside a
            # transaction, or a broker outage stalls every write of the service. Rows are read,
            # published, then marked in two short transactions (this process runs one batch at a
            # time; a crash in between re-publishes the batch with the same ce_ids).
            async with self._engine.connect() as reader:
                await reader.execution_options(**READ_ONLY)
                async with reader.begin():
                    rows = (await reader.execute(self._unsent())).all()
            # Rows a commit is marking right now were published already.
            rows = _publishable(rows, self._marking, young_since, self._unhanded)
            if rows:
                await self._send(rows)
                async with self._engine.begin() as connection:
                    await self._mark_sent(connection, [row.event_id for row in rows])
        else:
            # Row locks (SKIP LOCKED) keep relays of several replicas on disjoint rows.
            async with self._engine.begin() as connection:
                rows = (
                    await connection.execute(self._unsent().with_for_update(skip_locked=True))
                ).all()
                rows = _publishable(rows, self._marking, young_since, self._unhanded)
                if rows:
                    await self._send(rows)
                    await self._mark_sent(connection, [row.event_id for row in rows])
        if rows:
            OUTBOX_PUBLISHED.labels(self._service).inc(len(rows))
        return [row.event_id for row in rows]

    def _unsent(self) -> Select[Any]:
        table = self._table
        return (
            select(
                table.c.event_id,
                table.c.topic,
                table.c.record_key,
                table.c.record_value,
                table.c.headers,
                table.c.created_at,
            )
            .where(table.c.sent_at.is_(None))
            .order_by(table.c.id)
            .limit(self._batch_size)
        )

    async def _send(self, rows: Sequence[Row[Any] | Staged]) -> None:
        deliveries = []
        if self._tracer is None:
            for row in rows:
                deliveries.append(
                    await self._producer.send(
                        row.topic,
                        value=row.record_value,
                        key=row.record_key,
                        headers=[(name, value.encode()) for name, value in row.headers],
                    )
                )
            await asyncio.gather(*deliveries)
            return
        for row in rows:
            span = self._send_span(self._tracer, row)
            try:
                delivery = await self._producer.send(
                    row.topic,
                    value=row.record_value,
                    key=row.record_key,
                    headers=_headers_in_context(row.headers, span),
                )
            except BaseException as error:
                _end_send_span(span, error=error)
                raise
            delivery.add_done_callback(functools.partial(_acknowledged, span))
            deliveries.append(delivery)
        # Every send must be acknowledged (acks=all) before the rows are marked sent.
        await asyncio.gather(*deliveries)

    def _send_span(self, tracer: trace.Tracer, row: Row[Any] | Staged) -> Span:
        # The producer span is a child of the span that staged the event (its context is in
        # the row's headers), and its own context replaces it in the record: consumers become
        # its children, so a ticket stays one trace from the request to the last consumer.
        headers = dict(row.headers)
        return tracer.start_span(
            f"send {row.topic}",
            context=propagate.extract(headers),
            kind=SpanKind.PRODUCER,
            attributes=kafka_attributes(
                "send", row.topic, message_id=headers.get("ce_id", ""), key=row.record_key
            ),
        )

    async def _mark_sent(self, connection: AsyncConnection, event_ids: list[str]) -> None:
        await connection.execute(
            mark_sent(self._table, connection.dialect.name),
            {"event_ids": event_ids, "now": utcnow()},
        )

    async def _prune(self, connection: AsyncConnection) -> None:
        await connection.execute(
            delete(self._table).where(self._table.c.sent_at < utcnow() - self._retention)
        )

    async def _backlog(self) -> int:
        table = self._table
        async with self._engine.connect() as connection:
            await connection.execution_options(**read_only_options(connection.dialect.name))
            backlog = await connection.scalar(
                select(func.count()).select_from(table).where(table.c.sent_at.is_(None))
            )
            return int(backlog or 0)

    async def run(self) -> None:
        """Relay until ``stop``; failures are logged and retried, never fatal."""
        cycles = 0
        self._running = True
        while not self._stopping:
            try:
                if self._handed and not self._behind:
                    await self.publish_handed()
                    # Woken by a hand-off: the table is polled on the interval, not now. A
                    # commit meanwhile marks what was published; if none comes, the relay does.
                    if not await self._wait(self._mark_delay):
                        continue
                    await self.mark_published()
                    if not await self._wait(max(self._poll_interval - self._mark_delay, 0)):
                        continue
                # From here on hand-offs are taken again: a row committed before this point
                # is seen by the poll, one committed after it is handed over.
                self._behind = False
                while await self.publish_pending() == self._batch_size:
                    pass
                cycles += 1
                if cycles % 120 == 0:
                    async with self._engine.begin() as connection:
                        await self._prune(connection)
                    OUTBOX_BACKLOG.labels(self._service).set(await self._backlog())
            except Exception:
                log.exception("outbox relay cycle failed; retrying")
                # Rows not published are still unsent in the table; until a poll has
                # published them, later rows must not overtake them through a hand-off.
                self._behind = True
                self._unhanded.update(row.event_id for row in self._handed)
                self._handed = []
                await asyncio.sleep(1.0)
            await self._wait(self._poll_interval)

    async def _wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for a wake-up; True if the time ran out (poll due)."""
        timed_out = False
        try:
            await asyncio.wait_for(self._wakeup.wait(), seconds)
        except TimeoutError:
            timed_out = True
        self._wakeup.clear()
        return timed_out

    async def stop(self) -> None:
        """Stop relaying after one last flush of what is committed."""
        self._stopping = True
        self._handed = []
        self._wakeup.set()
        try:
            while await self.publish_pending(young_too=True):
                pass
        except Exception:
            log.exception("final outbox flush failed; the next start will publish the rest")


def _publishable(
    rows: Sequence[Row[Any]], marking: set[str], young_since: datetime | None, unhanded: set[str]
) -> list[Row[Any]]:
    """The rows a poll publishes, in id order: none a commit is marking (published already),
    and none from the first committed after ``young_since`` that was handed off (its relay,
    maybe another replica's, publishes it; the rows after it wait, so that the order stays)."""
    publishable = []
    for row in rows:
        if (
            young_since is not None
            and row.created_at > young_since
            and row.event_id not in unhanded
        ):
            break
        if row.event_id not in marking:
            publishable.append(row)
    return publishable


def _headers_in_context(headers: list[list[str]], span: Span) -> RecordHeaders:
    """The row's headers with the trace context of ``span`` in place of the staging one."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    kept = [(name, value.encode()) for name, value in headers if name not in carrier]
    return kept + [(name, value.encode()) for name, value in sorted(carrier.items())]


def _acknowledged(span: Span, delivery: "asyncio.Future[Any]") -> None:
    if delivery.cancelled():
        _end_send_span(span, error=asyncio.CancelledError())
    elif (error := delivery.exception()) is not None:
        _end_send_span(span, error=error)
    else:
        metadata = delivery.result()
        span.set_attribute("messaging.destination.partition.id", str(metadata.partition))
        span.set_attribute("messaging.kafka.offset", metadata.offset)
        _end_send_span(span)


def _end_send_span(span: Span, error: BaseException | None = None) -> None:
    if error is not None:
        span.record_exception(error)
        span.set_status(StatusCode.ERROR, type(error).__name__)
        span.set_attribute("error.type", type(error).__name__)
    span.end()

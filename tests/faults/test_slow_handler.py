"""A handler slower than the consumer's session timeout keeps its place in the group.

aiokafka heartbeats from a background task, so a slow handler only costs the member its place
when it exceeds ``max_poll_interval_ms`` (60 s in the runtime). Two runtimes in one consumer
group, each handling an event that takes longer than the session timeout (10 s) among fast ones:
every event is handled exactly once and the group is not rebalanced.
"""

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import MetaData

from helpline_devstack.kafka import KafkaNode
from helpline_devstack.testing import unique_name
from helpline_shared import topics
from helpline_shared.envelope import Envelope, to_record
from helpline_shared.events import Requester, TicketCreated
from helpline_shared.runtime.consumer import HandlerTable
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.service import ServiceRuntime
from helpline_shared.runtime.settings import ServiceSettings
from helpline_shared.runtime.uow import SqlUnitOfWork

pytestmark = pytest.mark.integration

SESSION_TIMEOUT_SECONDS = 10  # the runtime's session_timeout_ms
SLOW_SECONDS = SESSION_TIMEOUT_SECONDS + 2
SLOW_PARTITIONS = (0, 1)  # round-robin assignment: one for each consumer
FAST_EVENTS = 30


@contextlib.contextmanager
def logging_kept() -> Iterator[None]:
    """Undo the runtime's process-wide logging setup, so later tests log as before."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {
        name: logging.getLogger(name).level for name in ("aiokafka", "uvicorn.access", "aiosqlite")
    }
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, kept in levels.items():
            logging.getLogger(name).setLevel(kept)


async def consuming(
    runtime: ServiceRuntime,
    metadata: MetaData,
    apply: Callable[[SqlUnitOfWork, Envelope], Awaitable[None]],
) -> None:
    """``runtime`` applying ticket.created through a handler table, its inbox created."""
    async with runtime.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    runtime.consume(
        [topics.TICKETS],
        HandlerTable(runtime.name, {TicketCreated: apply}),
        lambda: runtime.unit_of_work(SqlUnitOfWork),
    )


async def group_members(bootstrap_servers: str, group: str) -> int:
    """The members of ``group`` when it is stable, else 0."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        [description] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    [found] = description.to_object()["groups"]
    stable = found["error_code"] == 0 and found["state"] == "Stable"
    return len(found["members"]) if stable else 0


async def publish(bootstrap_servers: str, topic: str) -> tuple[set[str], set[str]]:
    """One slow ticket on each of ``SLOW_PARTITIONS``, fast ones anywhere; their event ids."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await producer.start()
    slow: set[str] = set()
    fast: set[str] = set()
    try:
        for index, partition in enumerate([*SLOW_PARTITIONS, *([None] * FAST_EVENTS)]):
            record = to_record(
                TicketCreated(
                    tenant_id="slow",
                    ticket_id=unique_name("tk"),
                    occurred_at=utcnow(),
                    subject="slow" if partition is not None else "fast",
                    description="-",
                    requester=Requester(email="cy@example.org"),
                    priority="normal",
                    type="corrective",
                    channel="api",
                ),
                source="/tests/faults",
            )
            await producer.send_and_wait(
                topic,
                value=record.value,
                key=record.key,
                headers=list(record.headers),
                partition=partition,
            )
            (slow if index < len(SLOW_PARTITIONS) else fast).add(
                dict(record.headers)["ce_id"].decode()
            )
    finally:
        await producer.stop()
    return slow, fast


async def test_handlers_slower_than_the_session_timeout_cause_no_rebalance(
    kafka: KafkaNode, topic_prefix: str, tmp_path: Path
) -> None:
    name = unique_name("slow")
    group = f"helpline-{name}"
    handled: Counter[str] = Counter()

    async def handle(uow: SqlUnitOfWork, envelope: Envelope) -> None:
        if isinstance(envelope.event, TicketCreated) and envelope.event.subject == "slow":
            await asyncio.sleep(SLOW_SECONDS)
        handled[envelope.id] += 1

    runtimes = []
    for replica in ("a", "b"):
        # A database each: their inboxes do not hide a record that both would apply.
        settings = ServiceSettings(
            kafka_bootstrap_servers=kafka.bootstrap_servers,
            data_dir=tmp_path / replica,
            topic_prefix=topic_prefix,
            relay_enabled=False,
        )
        metadata = MetaData()
        with logging_kept():
            runtime = ServiceRuntime(name=name, settings=settings, metadata=metadata)
        await consuming(runtime, metadata, handle)
        runtimes.append(runtime)
    try:
        with logging_kept():
            for runtime in runtimes:
                await runtime.start()
        deadline = time.monotonic() + 60
        while await group_members(kafka.bootstrap_servers, group) != 2:
            assert time.monotonic() < deadline, "the two consumers never formed a stable group"
            await asyncio.sleep(0.5)
        settled_at = kafka.group_generations(group)[-1]

        started = time.monotonic()
        slow, fast = await publish(kafka.bootstrap_servers, topic_prefix + topics.TICKETS)
        expected = slow | fast
        while set(handled) != expected:
            assert time.monotonic() - started < len(SLOW_PARTITIONS) * SLOW_SECONDS + 60, (
                f"{len(expected - set(handled))} events never handled"
            )
            await asyncio.sleep(0.5)
        await asyncio.sleep(2.0)  # a redelivery, if there were one, is handled by now
        generation_at_end = kafka.group_generations(group)[-1]
    finally:
        for runtime in runtimes:
            await runtime.stop()
    assert time.monotonic() - started > SLOW_SECONDS, "the handler was not slow"
    assert {event_id: count for event_id, count in handled.items() if count != 1} == {}
    assert set(handled) == expected
    assert generation_at_end == settled_at, "the group was rebalanced while handlers were slow"


async def test_a_batch_that_outlasts_its_time_budget_is_cut_and_the_rest_read_again(
    kafka: KafkaNode, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The budget keeps a consumer polling well within max.poll.interval however slow a batch
    # is; here it is 1 s against 20 events of 0.2 s on one partition.
    from helpline_shared.runtime import consumer

    rewinds: list[int] = []
    original = consumer._rewind

    def counting_rewind(kafka_consumer: object, records: Sequence[object]) -> None:
        rewinds.append(len(records))
        original(kafka_consumer, records)  # type: ignore[arg-type]

    monkeypatch.setattr(consumer, "BATCH_TIME_BUDGET", 1.0)
    monkeypatch.setattr(consumer, "_rewind", counting_rewind)
    settings = ServiceSettings(
        kafka_bootstrap_servers=kafka.bootstrap_servers,
        data_dir=tmp_path,
        topic_prefix=topic_prefix,
        relay_enabled=False,
    )
    handled: list[str] = []

    async def handle(uow: SqlUnitOfWork, envelope: Envelope) -> None:
        await asyncio.sleep(0.2)
        handled.append(envelope.id)

    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
    await producer.start()
    published = []
    try:
        for _ in range(20):
            record = to_record(
                TicketCreated(
                    tenant_id="budget",
                    ticket_id=unique_name("tk"),
                    occurred_at=utcnow(),
                    subject="s",
                    description="-",
                    requester=Requester(email="cy@example.org"),
                    priority="normal",
                    type="corrective",
                    channel="api",
                ),
                source="/tests/faults",
            )
            await producer.send_and_wait(
                topic_prefix + topics.TICKETS,
                value=record.value,
                key=record.key,
                headers=list(record.headers),
                partition=0,
            )
            published.append(dict(record.headers)["ce_id"].decode())
    finally:
        await producer.stop()

    metadata = MetaData()
    with logging_kept():
        runtime = ServiceRuntime(name=unique_name("budget"), settings=settings, metadata=metadata)
    await consuming(runtime, metadata, handle)
    try:
        with logging_kept():
            await runtime.start()
        deadline = time.monotonic() + 60
        while len(handled) < len(published):
            assert time.monotonic() < deadline, f"only {len(handled)} events handled"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # a record read twice would be handled by now
    finally:
        await runtime.stop()
    assert handled == published, "each event once, in partition order"
    assert rewinds, "no batch was cut: the budget was never reached"

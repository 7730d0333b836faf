"""How the batch consumer waits for records: in the fetch, never in a sleep after it."""

import asyncio
from typing import Any

import pytest
from aiokafka import TopicPartition
from faststream.kafka import KafkaBroker
from runtime_support import created

from helpline_shared.runtime import consumer as consumer_module
from helpline_shared.runtime.testing import consumer_record


class QuietConsumer:
    """An aiokafka consumer stand-in: records the waits it is asked for, has ``ready`` records."""

    def __init__(self, ready: dict[Any, list[Any]] | None = None) -> None:
        self.ready = ready or {}
        self.waits: list[tuple[int, int]] = []

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]:
        self.waits.append((timeout_ms, max_records))
        return self.ready


def subscriber() -> Any:
    broker = KafkaBroker("127.0.0.1:9", logger=None)
    return consumer_module._batch_subscriber(broker, ["t"], "g", 100)


async def test_an_empty_poll_is_followed_by_no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    # FastStream's batch poll sleeps through anyio after an empty fetch: a record arriving
    # then waits for the sleep to end.
    monkeypatch.setattr("anyio.sleep", sleep)
    quiet = QuietConsumer()

    batch = await subscriber().get_msg(quiet)

    assert batch == ()
    assert slept == []
    assert quiet.waits == [(consumer_module.IDLE_POLL_MS, 100)]


async def test_records_of_every_partition_come_back_in_one_batch() -> None:
    first, second = object(), object()
    ready = QuietConsumer({"p0": [first], "p1": [second]})

    assert await subscriber().get_msg(ready) == (first, second)


class SeekingConsumer(QuietConsumer):
    """Also notes where it was rewound."""

    def __init__(self, ready: dict[Any, list[Any]]) -> None:
        super().__init__(ready)
        self.seeks: dict[TopicPartition, int] = {}

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks[partition] = offset


async def test_a_polled_batch_goes_to_the_direct_handler_not_through_faststream() -> None:
    handed: list[tuple[Any, Any]] = []

    async def direct(records: Any, consumer: Any) -> None:
        handed.append((records, consumer))

    broker = KafkaBroker("127.0.0.1:9", logger=None)
    polled = consumer_module._batch_subscriber(broker, ["t"], "g", 100, direct=direct)

    async def through_faststream(message: object) -> None:
        raise AssertionError("FastStream's processing was used")

    polled(through_faststream)
    record = consumer_record(created("a"), offset=4, topic="t")
    kafka = SeekingConsumer({"p0": [record]})
    polled.running = True
    await polled.consume_one(await polled.get_msg(kafka))
    assert handed == [((record,), kafka)]


async def test_a_failing_direct_handler_rewinds_its_batch() -> None:
    async def direct(records: Any, consumer: Any) -> None:
        raise RuntimeError("boom")

    polled = consumer_module._batch_subscriber(
        KafkaBroker("127.0.0.1:9", logger=None), ["t"], "g", 100, direct=direct
    )
    records = [
        consumer_record(created(n), offset=offset, topic="t") for n, offset in (("a", 7), ("b", 8))
    ]
    kafka = SeekingConsumer({"p0": records})
    polled.running = True
    await polled.consume_one(await polled.get_msg(kafka))
    assert kafka.seeks == {TopicPartition("t", 0): 7}


async def test_what_a_batch_hands_over_is_sent_before_the_next_batch_is_applied() -> None:
    # As the relay does: woken by a commit, it queues the rows in the producer, whose sender
    # task is woken in turn and creates a task that writes the request. Polled records ready
    # at once, and a batch on SQLite, never give the loop a turn by themselves.
    woken, queued = asyncio.Event(), asyncio.Event()
    events: list[str] = []

    async def relay() -> None:
        await woken.wait()
        queued.set()

    async def write() -> None:
        events.append("sent")

    async def sender() -> None:
        await queued.wait()
        await asyncio.create_task(write())

    async def direct(records: Any, consumer: Any) -> None:
        events.append("batch")
        woken.set()

    tasks = [asyncio.create_task(relay()), asyncio.create_task(sender())]
    await asyncio.sleep(0)  # both wait
    polled = consumer_module._batch_subscriber(
        KafkaBroker("127.0.0.1:9", logger=None), ["t"], "g", 100, direct=direct
    )
    kafka = SeekingConsumer({"p0": [consumer_record(created("a"), offset=1, topic="t")]})
    polled.running = True
    for _ in range(2):
        await polled.consume_one(await polled.get_msg(kafka))
    assert events[:3] == ["batch", "sent", "batch"]
    await asyncio.gather(*tasks)

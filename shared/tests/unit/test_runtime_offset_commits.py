"""Offsets of handled batches are committed in the background, at most one request per interval,
with the explicit positions after each batch (where it rewound a partition, that offset), never
past a partition that was revoked meanwhile; ``flush`` commits what is left."""

import asyncio
from typing import Any

from aiokafka import TopicPartition
from runtime_support import created

from helpline_shared.runtime.consumer import OffsetCommits, positions_after
from helpline_shared.runtime.testing import consumer_record

A = TopicPartition("t", 0)
B = TopicPartition("t", 1)


class CommittingConsumer:
    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.assigned = {A, B}

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_position_after_a_batch_is_past_its_last_record_unless_rewound() -> None:
    records = [
        consumer_record(created("a"), offset=7, partition=0, topic="t"),
        consumer_record(created("b"), offset=8, partition=0, topic="t"),
        consumer_record(created("c"), offset=3, partition=1, topic="t"),
    ]
    assert positions_after(records, {}) == {A: 9, B: 4}
    assert positions_after(records, {A: 8}) == {A: 8, B: 4}


async def test_commits_are_one_at_once_then_one_per_interval_with_the_latest_offsets() -> None:
    consumer, clock = CommittingConsumer(), Clock()
    commits = OffsetCommits(interval=10.0, clock=clock)
    commits.handled(consumer, {A: 1})
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert consumer.commits == [{A: 1}]  # the first after a quiet spell goes at once
    clock.now += 1
    commits.handled(consumer, {A: 2})
    commits.handled(consumer, {A: 3, B: 5})
    await asyncio.sleep(0)
    assert consumer.commits == [{A: 1}]  # held back until the interval is over
    consumer.assigned = {A}  # B revoked meanwhile: another member commits it
    await commits.flush()
    assert consumer.commits == [{A: 1}, {A: 3}]
    await commits.flush()
    assert consumer.commits == [{A: 1}, {A: 3}]  # nothing left to commit


async def test_a_failed_commit_is_dropped_and_the_next_carries_newer_offsets() -> None:
    clock = Clock()

    class Failing(CommittingConsumer):
        async def commit(self, offsets: dict[TopicPartition, int]) -> None:
            raise ConnectionError("broker away")

    failing: Any = Failing()
    commits = OffsetCommits(interval=0.0, clock=clock)
    commits.handled(failing, {A: 1})
    await commits.flush()
    consumer = CommittingConsumer()
    commits.handled(consumer, {A: 2})
    await commits.flush()
    assert consumer.commits == [{A: 2}]

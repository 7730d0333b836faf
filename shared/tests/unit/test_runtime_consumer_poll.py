"""How the batch consumer waits for records: in the fetch, never in a sleep after it."""

from typing import Any

import pytest
from faststream.kafka import KafkaBroker

from helpline_shared.runtime import consumer as consumer_module


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

"""The partner stream's consumer hands each batch's records, undecoded, to the forwarder, without
a worker-thread hop per batch."""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio.to_thread
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from helpline_notify.entrypoints.partner_stream import subscribe_forwarder
from helpline_notify.service_layer.partner_stream import SourceRecord


class RecordingForwarder:
    def __init__(self) -> None:
        self.batches: list[list[tuple[str, bytes | None, bytes | None]]] = []

    async def forward(self, records: Sequence[SourceRecord]) -> int:
        self.batches.append([(record.topic, record.key, record.value) for record in records])
        return len(records)


async def test_a_batch_is_forwarded_as_raw_records_without_a_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hops: list[object] = []
    real_run_sync = anyio.to_thread.run_sync

    async def counted(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[Any]:
        hops.append(function)
        return await real_run_sync(function, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    broker = KafkaBroker("localhost:9")
    forwarder = RecordingForwarder()
    subscribe_forwarder(broker, forwarder, ["helpline.tickets"], batch_size=10)

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(
            b"not json", "helpline.tickets", key=b"t1", headers={"ce_id": "e1"}
        )

    assert forwarder.batches == [[("helpline.tickets", b"t1", b"not json")]]
    # FastStream resolves a ``message: KafkaMessage`` parameter in a worker thread per batch.
    assert hops == []

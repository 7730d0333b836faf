"""CPU the shared runtime adds per transaction and per consumed batch, on a real SQLite file.

    ../.venv/bin/python runtime_consume.py [--batches 300] [--size 10] [--profile out.prof]
        [--tail-batches 3000]

Prints CPU (``time.process_time``) per empty unit of work (one INSERT, one commit), per
batch of ``--size`` records through ``TableConsumer`` (a handler inserting one row and
publishing one event per record) and per record; then the wall time per batch over
``--tail-batches`` batches (its tail: WAL checkpoints, collector pauses), the cyclic garbage
collector's pauses meanwhile, the CPU of handing a polled batch to the runtime (through
FastStream's processing, and directly as the subscriber's loop does), and the CPU of one full
collection before and after ``settle_heap`` (what ``serve`` does after start-up). No broker:
the records are built in memory.
"""

import argparse
import cProfile
import gc
import logging
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop
from faststream.kafka import KafkaBroker, TestKafkaBroker
from opentelemetry.trace import NoOpTracer
from sqlalchemy import Column, MetaData, String, Table, insert
from sqlalchemy.ext.asyncio import async_sessionmaker

from helpline_shared.envelope import Envelope
from helpline_shared.events import Requester, TicketCreated
from helpline_shared.runtime.consumer import (
    DeadLetters,
    HandlerTable,
    TableConsumer,
    subscribe_table,
)
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table, utcnow
from helpline_shared.runtime.service import settle_heap
from helpline_shared.runtime.testing import FakeKafkaConsumer, RecordingProducer, consumer_record
from helpline_shared.runtime.uow import SqlUnitOfWork

metadata = MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
seen = Table("seen", metadata, Column("ticket_id", String(64), primary_key=True))


def created(ticket_id: str) -> TicketCreated:
    return TicketCreated(
        tenant_id="acme",
        ticket_id=ticket_id,
        occurred_at=utcnow(),
        subject="Printer",
        description="On fire",
        requester=Requester(email="ann@example.com"),
        priority="high",
        type="question",
        channel="api",
    )


ADD_SEEN = insert(seen)


async def remember(uow: SqlUnitOfWork, envelope: Envelope) -> None:
    """A handler's typical work: one row written, one event published."""
    event = envelope.event
    assert isinstance(event, TicketCreated)
    await uow.session.execute(ADD_SEEN, {"ticket_id": event.ticket_id})
    uow.publish(event)


ROUNDS = 5


async def cpu_per_call(calls: int, call: Callable[[int], Awaitable[None]]) -> float:
    """Microseconds of CPU per ``call`` after a warm-up: the least of ``ROUNDS`` rounds (the
    others paid for the machine's other work too)."""
    for n in range(20):
        await call(-n - 1)
    per_round = calls // ROUNDS
    rounds = []
    for first in range(0, per_round * ROUNDS, per_round):
        started = time.process_time()
        for n in range(first, first + per_round):
            await call(n)
        rounds.append((time.process_time() - started) / per_round * 1e6)
    return min(rounds)


async def calls_per_call(calls: int, call: Callable[[int], Awaitable[None]], first: int) -> float:
    """Python function calls per ``call`` (deterministic, unlike CPU time on a shared machine)."""
    profile = cProfile.Profile()
    profile.enable()
    for n in range(first, first + calls):
        await call(n)
    profile.disable()
    return pstats.Stats(profile).total_calls / calls  # type: ignore[attr-defined, no-any-return]


class GcPauses:
    """Pauses of Python's cyclic garbage collector, by generation (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses[info["generation"]].append(time.perf_counter() - self._started)

    def report(self) -> str:
        return ", ".join(
            f"gen {generation}: {len(pauses)} pauses, max {max(pauses, default=0) * 1e3:.2f} ms"
            for generation, pauses in self.pauses.items()
        )


def quantiles(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    if not ordered:
        return "none"

    def at(share: float) -> float:
        return ordered[min(int(share * len(ordered)), len(ordered) - 1)] * 1e3

    return f"p50 {at(0.5):.2f} ms, p99 {at(0.99):.2f} ms, max {ordered[-1] * 1e3:.2f} ms"


async def main(arguments: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as directory:
        engine = create_engine(f"sqlite:///{Path(directory) / 'bench.db'}")
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        sessions = async_sessionmaker(engine, expire_on_commit=False)

        def unit_of_work() -> SqlUnitOfWork:
            return SqlUnitOfWork(sessions, outbox_table=outbox, inbox_table=inbox, source="/b")

        async def one_transaction(n: int) -> None:
            async with unit_of_work() as uow:
                await uow.session.execute(ADD_SEEN, {"ticket_id": f"u{n}"})
                await uow.commit()

        consumer = TableConsumer(
            table=HandlerTable("bench", {TicketCreated: remember}),
            unit_of_work=unit_of_work,
            dead_letters=DeadLetters(RecordingProducer(), "g"),
            tracer=NoOpTracer(),
            group="g",
        )
        size = arguments.size
        batches = [
            [consumer_record(created(f"b{b}-{n}"), offset=b * size + n + 1000) for n in range(size)]
            for b in range(-20, arguments.batches + 20)
        ]
        fake = FakeKafkaConsumer()

        async def one_batch(n: int) -> None:
            await consumer.consume(batches[n + 20], fake)

        profile = cProfile.Profile() if arguments.profile else None
        if profile:
            profile.enable()
        transaction = await cpu_per_call(arguments.batches * 3, one_transaction)
        batch = await cpu_per_call(arguments.batches, one_batch)
        if profile:
            profile.disable()
            profile.dump_stats(arguments.profile)
        # Wall time per batch (the tail: WAL checkpoints, collector pauses) over a longer run.
        gc_pauses = GcPauses()
        gc.callbacks.append(gc_pauses)
        walls = []
        for n in range(arguments.tail_batches):
            batch_records = [
                consumer_record(created(f"t{n}-{i}"), offset=10**7 + n * size + i)
                for i in range(size)
            ]
            started = time.perf_counter()
            await consumer.consume(batch_records, fake)
            walls.append(time.perf_counter() - started)
        gc.callbacks.remove(gc_pauses)
        faststream, direct = await hand_over(2000)
        transaction_calls = await calls_per_call(100, one_transaction, 10**6)
        batch_calls = await calls_per_call(20, one_batch, arguments.batches)
        await engine.dispose()
    print(f"transaction (1 INSERT + commit): {transaction:8.1f} us CPU")
    print(f"batch of {size} records:          {batch:8.1f} us CPU ({batch / size:.1f} per record)")
    print(f"Python calls: {transaction_calls:.0f} per transaction, {batch_calls:.0f} per batch")
    print(
        f"hand-over of a polled batch: {faststream:.1f} us CPU via FastStream, {direct:.1f} direct"
    )
    print(f"wall per batch over {arguments.tail_batches} batches: {quantiles(walls)}")
    print(f"collector: {gc_pauses.report()}")
    print(f"full collection: {full_collection():.1f} ms CPU", end="")
    settle_heap()
    print(f", {full_collection():.1f} ms CPU once the heap is settled (service.settle_heap)")


class PolledConsumer:
    """An aiokafka consumer stand-in for the subscriber's loop: the same batch at every poll."""

    def __init__(self, records: list[Any]) -> None:
        self._records = records

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[str, list[Any]]:
        return {"p": self._records}

    def assignment(self) -> set[Any]:
        return set()

    async def commit(self, offsets: Any) -> None:
        return None

    def seek(self, partition: Any, offset: int) -> None:
        return None


async def hand_over(calls: int) -> tuple[float, float]:
    """CPU per batch, in microseconds, of handing a polled batch (one record no handler wants)
    to the runtime: through FastStream's processing (``subscriber.consume``: middlewares,
    parser, dependency injection, acknowledgement), and the way the subscriber's loop does now
    (``consume_one`` to the runtime directly)."""
    broker = KafkaBroker("127.0.0.1:9", logger=logging.getLogger("bench"), log_level=logging.DEBUG)
    subscribe_table(
        broker,
        topics=["t"],
        group="g",
        table=HandlerTable[SqlUnitOfWork]("bench"),
        unit_of_work=lambda: None,  # type: ignore[arg-type, return-value]
        dead_letters=DeadLetters(RecordingProducer(), "g"),
        tracer=None,
    )
    (subscriber,) = broker.subscribers
    records = [consumer_record(created("h"), offset=1, topic="t")]
    polled = PolledConsumer(records)

    async def through_faststream(_n: int) -> None:
        await subscriber.consume(tuple(records))

    async def directly(_n: int) -> None:
        await subscriber.consume_one(await subscriber.get_msg(polled))  # type: ignore[attr-defined]

    async with TestKafkaBroker(broker):
        faststream = await cpu_per_call(calls, through_faststream)
    subscriber.running = True
    return faststream, await cpu_per_call(calls, directly)


def full_collection() -> float:
    """Milliseconds of CPU one full collection of this process's heap takes (the least of 3)."""
    spent = []
    for _ in range(3):
        started = time.process_time()
        gc.collect()
        spent.append(time.process_time() - started)
    return min(spent) * 1e3


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--size", type=int, default=10)
    parser.add_argument("--profile", default="")
    parser.add_argument("--tail-batches", type=int, default=3000)
    return parser.parse_args(argv)


if __name__ == "__main__":
    uvloop.run(main(parse(sys.argv[1:])))

"""The physical limit for the pipeline's shape: raw aiokafka, no database, no logic.

A producer writes one record per ticket to a tickets topic; a routing-like and an SLA-like
consumer each republish every record to their own topic; a notify-like consumer POSTs each
routed record to a webhook receiver. Same broker, same partitions, same hops as Helpline.
Sends and POSTs are pipelined (many in flight, awaited together), so the baseline measures
what the hops can carry, not one round trip after another.
"""

import asyncio
import os
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from common import cpu_seconds, median, percentile

from helpline_devstack.kafka import KafkaNode
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.testing import WebhookReceiver, unique_name
from helpline_shared.topics import PARTITIONS

MAX_IN_FLIGHT = 1000
"""Ticket records sent and not yet acknowledged, at most (the producer's own pipelining)."""
WEBHOOK_CONCURRENCY = 16
"""Webhook POSTs in flight at once, each on a keep-alive connection of its own (4 while the
receiver was a threaded http.server with a listen backlog of 5: more connections were reset)."""


@dataclass
class Phase:
    """What one load phase measured (``rate`` None: full speed)."""

    rate: float | None
    created: int
    completed: int
    throughput: float
    assignment_p50_ms: float
    assignment_p99_ms: float
    webhook_p50_ms: float
    webhook_p99_ms: float
    acknowledgement_p50_ms: float | None = None
    acknowledgement_p99_ms: float | None = None
    cpu_ms_per_ticket: dict[str, float] | None = None
    """CPU time each process (with its children) spent per completed ticket in this phase."""


def process_id(server: KafkaNode | PostgresServer) -> int:
    """The running server's process id (for ``cpu_seconds``)."""
    pid = server.process_id()
    if pid is None:
        raise RuntimeError(f"{type(server).__name__} is not running")
    return pid


def per_ticket(before: dict[str, float], after: dict[str, float], tickets: int) -> dict[str, float]:
    """CPU milliseconds per ticket of each process between two ``cpu_seconds`` readings."""
    return {name: round((after[name] - before[name]) * 1000 / tickets, 2) for name in after}


class _Run:
    """One phase of the raw pipeline: its topics, timestamps and consumers."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.bootstrap = bootstrap
        self.tickets, self.routed, self.timed = (
            prefix + "tickets",
            prefix + "routing",
            prefix + "sla",
        )
        self.prefix = prefix
        self.created: dict[str, float] = {}
        self.assigned: dict[str, float] = {}
        self.clocks: set[str] = set()
        self.hooks: dict[str, float] = {}
        self.stop = asyncio.Event()
        self.posting = asyncio.Semaphore(WEBHOOK_CONCURRENCY)

    def done(self) -> list[str]:
        return [
            k for k in self.created if k in self.assigned and k in self.clocks and k in self.hooks
        ]

    async def hop(
        self,
        producer: AIOKafkaProducer,
        source: str,
        target: str | None,
        group: str,
        role: str,
        hook_url: str,
    ) -> None:
        consumer = AIOKafkaConsumer(
            source,
            bootstrap_servers=self.bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=64)) as client:
            try:
                while not self.stop.is_set():
                    batches = await consumer.getmany(timeout_ms=100)
                    pending: list[Any] = []
                    for records in batches.values():
                        for record in records:
                            key = (record.key or b"").decode()
                            if role == "assigned":
                                self.assigned.setdefault(key, time.time())
                                pending.append(self._post(client, hook_url, key, record.value))
                            elif role == "clock":
                                self.clocks.add(key)
                            if target is not None:
                                pending.append(
                                    await producer.send(target, record.value, key=record.key)
                                )
                    # Every POST and send of the batch in flight at once, then one commit.
                    await asyncio.gather(*pending)
                    if batches:
                        await consumer.commit()
            finally:
                await consumer.stop()

    async def _post(
        self, client: httpx.AsyncClient, url: str, key: str, body: bytes | None
    ) -> None:
        async with self.posting:
            await client.post(url, content=body)
        self.hooks.setdefault(key, time.time())


async def _phase(kafka: KafkaNode, rate: float | None, seconds: float) -> Phase:
    run = _Run(kafka.bootstrap_servers, unique_name("base") + ".")
    await asyncio.to_thread(kafka.create_topics, [run.tickets, run.routed, run.timed], PARTITIONS)
    producer = AIOKafkaProducer(
        bootstrap_servers=run.bootstrap, acks="all", enable_idempotence=True, linger_ms=2
    )
    await producer.start()
    with WebhookReceiver() as receiver:
        url = receiver.url + "/hook"
        tasks = [
            asyncio.create_task(
                run.hop(producer, run.tickets, run.routed, run.prefix + "r", "", url)
            ),
            asyncio.create_task(
                run.hop(producer, run.tickets, run.timed, run.prefix + "e", "", url)
            ),
            asyncio.create_task(
                run.hop(producer, run.routed, None, run.prefix + "n", "assigned", url)
            ),
            asyncio.create_task(run.hop(producer, run.timed, None, run.prefix + "s", "clock", url)),
        ]
        await asyncio.sleep(3)  # let the consumer groups join
        processes = {"raw pipeline": os.getpid(), "kafka": process_id(kafka)}
        cpu_before = cpu_seconds(processes)
        started = time.monotonic()
        sent = 0
        in_flight: deque[asyncio.Future[Any]] = deque()
        while time.monotonic() < started + seconds:
            if rate is not None:
                await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))
            elif sent % 100 == 0:
                await asyncio.sleep(0)  # full speed still lets the hops run
            key = f"t{sent}"
            run.created[key] = time.time()
            in_flight.append(
                await producer.send(
                    run.tickets, b'{"ticket": "' + key.encode() + b'"}', key=key.encode()
                )
            )
            while len(in_flight) > MAX_IN_FLIGHT:
                await in_flight.popleft()
            sent += 1
        await asyncio.gather(*in_flight)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(run.done()) < len(run.created):  # noqa: ASYNC110 - the hops fill the maps
            await asyncio.sleep(0.1)
        cpu_after = cpu_seconds(processes)
        run.stop.set()
        await asyncio.gather(*tasks)
    await producer.stop()
    done = run.done()
    to_assignment = [(run.assigned[k] - run.created[k]) * 1000 for k in done]
    to_hook = [(run.hooks[k] - run.created[k]) * 1000 for k in done]
    span = max(run.hooks[k] for k in done) - min(run.created.values())
    return Phase(
        rate,
        len(run.created),
        len(done),
        len(done) / span,
        median(to_assignment),
        percentile(to_assignment, 0.99),
        median(to_hook),
        percentile(to_hook, 0.99),
        cpu_ms_per_ticket=per_ticket(cpu_before, cpu_after, len(done)),
    )


def run_baseline(kafka: KafkaNode, rates: tuple[float | None, ...], seconds: float) -> list[Phase]:
    """One phase per offered rate (None: as fast as the producer goes)."""
    return [asyncio.run(_phase(kafka, rate, seconds)) for rate in rates]

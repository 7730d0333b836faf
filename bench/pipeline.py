"""Tickets through all four services on the real broker, next to the physical limit.

Helpline: tickets are created over HTTP (at a fixed offered rate, then at full speed); a ticket is
done when its assignment and its SLA clock start are on Kafka and the signed webhook for its
assignment reached a local receiver. Latency is measured from the HTTP 201 to the assignment
event, and to the webhook's arrival.

Baseline, same run, same broker: a raw aiokafka pipeline of the same shape and number of messages
(produce to a tickets topic; a routing-like and an SLA-like consumer each republish every record;
a notify-like consumer POSTs each routed record to the same kind of receiver) with no database
and no logic. Our throughput is reported as a ratio of it.

Usage: ``python bench/pipeline.py [--database sqlite|postgres|both] [--seconds 10]``.
"""

import argparse
import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from common import median, percentile, write_result

from helpline_devstack._proc import free_port
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.stack import SERVICE_PORTS, Stack
from helpline_devstack.testing import TopicRecorder, WebhookReceiver, unique_name
from helpline_shared.runtime.auth import issue_token
from helpline_shared.topics import PARTITIONS, all_topics

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".helpline" / "bench"
SECRET = "bench-secret"
ASSIGNED = "helpline.ticket.assigned.v1"
CLOCK_STARTED = "helpline.sla.clock_started.v1"
OFFERED_RATE = 100.0


@dataclass
class Phase:
    """What one load phase measured."""

    created: int
    completed: int
    throughput: float
    assignment_p50_ms: float
    assignment_p99_ms: float
    webhook_p50_ms: float
    webhook_p99_ms: float


async def _create_tickets(url: str, token: str, rate: float | None, seconds: float,
                          concurrency: int) -> dict[str, float]:
    """POST tickets for ``seconds`` at ``rate`` per second (None: as fast as possible)."""
    created: dict[str, float] = {}
    body = {"subject": "Export fails", "description": "bench", "tags": ["bench"],
            "requester": {"email": "cy@bench.example"}, "priority": "normal"}
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30,
                                 headers={"authorization": f"Bearer {token}"}) as client:
        started = time.monotonic()
        deadline = started + seconds

        async def one() -> None:
            response = await client.post("/v1/tickets", json=body)
            response.raise_for_status()
            created[response.json()["id"]] = time.time()

        if rate is None:
            async def worker() -> None:
                while time.monotonic() < deadline:
                    await one()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        else:
            tasks = []
            sent = 0
            while time.monotonic() < deadline:
                due = started + sent / rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                tasks.append(asyncio.create_task(one()))
                sent += 1
            await asyncio.gather(*tasks)
    return created


def _measure(created: dict[str, float], recorder: TopicRecorder, receiver: WebhookReceiver,
             wait: float) -> Phase:
    deadline = time.monotonic() + wait
    while True:
        assigned = {r.key.decode(): r.received_at for r in recorder.events(ASSIGNED) if r.key}
        clocks = {r.key.decode() for r in recorder.events(CLOCK_STARTED) if r.key}
        hooks: dict[str, float] = {}
        for call in receiver.received():
            ticket = json.loads(call.body)["data"]["ticket_id"]
            hooks.setdefault(ticket, call.received_at)
        done = [t for t in created if t in assigned and t in clocks and t in hooks]
        if len(done) == len(created) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if not done:
        raise RuntimeError("no ticket completed")
    first = min(created.values())
    last = max(max(assigned[t], hooks[t]) for t in done)
    to_assignment = [(assigned[t] - created[t]) * 1000 for t in done]
    to_webhook = [(hooks[t] - created[t]) * 1000 for t in done]
    return Phase(len(created), len(done), len(done) / (last - first),
                 median(to_assignment), percentile(to_assignment, 0.99),
                 median(to_webhook), percentile(to_webhook, 0.99))


def run_helpline(kafka: KafkaNode, database_urls: dict[str, str], seconds: float) -> dict[str,
                                                                                         Phase]:
    """Both phases against the four services as processes."""
    prefix = unique_name("bench") + "."
    kafka.create_topics([prefix + topic for topic in all_topics()], PARTITIONS)
    phases: dict[str, Phase] = {}
    home = HOME / prefix.rstrip(".")
    with WebhookReceiver() as receiver:
        stack = Stack(Path(home), kafka.bootstrap_servers,
                      ports={name: free_port() for name in SERVICE_PORTS},
                      database_urls=database_urls,
                      environment={"HELPLINE_TOPIC_PREFIX": prefix,
                                   "HELPLINE_TOKEN_SECRET": SECRET,
                                   "HELPLINE_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
                                   "HELPLINE_SMTP_PORT": str(free_port()),
                                   "HELPLINE_LOG_LEVEL": "WARNING"})
        try:
            for name in SERVICE_PORTS:
                stack.start(name)
            token = issue_token("bench", SECRET)
            headers = {"authorization": f"Bearer {token}"}
            for index in range(20):
                agent = httpx.post(stack.running["routing"].url + "/v1/agents", headers=headers,
                                   json={"name": f"agent {index}", "email": f"a{index}@b.example",
                                         "skills": {"bench": 5},
                                         "capacity": {"api": 1000, "email": 1000},
                                         "presence": "available"}).json()
                assert agent["presence"] == "available"
            httpx.post(stack.running["notify"].url + "/v1/webhook-endpoints", headers=headers,
                       json={"url": receiver.url + "/hook",
                             "event_types": [ASSIGNED]}).raise_for_status()
            with TopicRecorder(kafka.bootstrap_servers,
                               [prefix + "helpline.routing", prefix + "helpline.sla"]) as recorder:
                for label, rate in (("offered", OFFERED_RATE), ("full", None)):
                    created = asyncio.run(_create_tickets(stack.running["intake"].url, token,
                                                          rate, seconds, concurrency=32))
                    phases[label] = _measure(created, recorder, receiver, wait=120)
                    with receiver.lock:
                        receiver.calls.clear()
        finally:
            stack.stop_all()
    return phases


async def _baseline(bootstrap: str, prefix: str, rate: float | None, seconds: float) -> Phase:
    tickets, routed, timed = prefix + "tickets", prefix + "routing", prefix + "sla"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                linger_ms=2)
    await producer.start()
    created: dict[str, float] = {}
    assigned: dict[str, float] = {}
    clocks: set[str] = set()
    hooks: dict[str, float] = {}
    stop = asyncio.Event()

    async def hop(source: str, target: str | None, group: str, record_into: str) -> None:
        consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=64)) as client:
            try:
                while not stop.is_set():
                    batches = await consumer.getmany(timeout_ms=100)
                    for records in batches.values():
                        futures = []
                        for record in records:
                            key = record.key.decode()
                            if record_into == "assigned":
                                assigned.setdefault(key, time.time())
                            elif record_into == "clock":
                                clocks.add(key)
                            if target is not None:
                                futures.append(await producer.send(target, record.value,
                                                                   key=record.key))
                            elif record_into == "assigned":
                                await client.post(receiver_url, content=record.value)
                                hooks.setdefault(key, time.time())
                        await asyncio.gather(*futures)
                    if batches:
                        await consumer.commit()
            finally:
                await consumer.stop()

    with WebhookReceiver() as receiver:
        receiver_url = receiver.url + "/hook"
        tasks = [asyncio.create_task(hop(tickets, routed, prefix + "r", "")),
                 asyncio.create_task(hop(tickets, timed, prefix + "e", "")),
                 asyncio.create_task(hop(routed, None, prefix + "n", "assigned")),
                 asyncio.create_task(hop(timed, None, prefix + "s", "clock"))]
        await asyncio.sleep(3)  # let the consumer groups join
        started = time.monotonic()
        sent = 0
        while time.monotonic() < started + seconds:
            if rate is not None:
                await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))
            key = f"t{sent}"
            created[key] = time.time()
            await producer.send_and_wait(tickets, b'{"ticket": "' + key.encode() + b'"}',
                                         key=key.encode())
            sent += 1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(  # noqa: ASYNC110 - tasks fill the maps
                k in assigned and k in clocks and k in hooks for k in created):
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.gather(*tasks)
    await producer.stop()
    done = [k for k in created if k in assigned and k in hooks and k in clocks]
    first = min(created.values())
    last = max(hooks[k] for k in done)
    to_assignment = [(assigned[k] - created[k]) * 1000 for k in done]
    to_hook = [(hooks[k] - created[k]) * 1000 for k in done]
    return Phase(len(created), len(done), len(done) / (last - first), median(to_assignment),
                 percentile(to_assignment, 0.99), median(to_hook), percentile(to_hook, 0.99))


def run_baseline(kafka: KafkaNode, seconds: float) -> dict[str, Phase]:
    """Both phases on the raw pipeline (its topics are created like ours)."""
    phases = {}
    for label, rate in (("offered", OFFERED_RATE), ("full", None)):
        phases[label] = asyncio.run(_baseline_with_topics(kafka, rate, seconds))
    return phases


async def _baseline_with_topics(kafka: KafkaNode, rate: float | None, seconds: float) -> Phase:
    prefix = unique_name("base") + "."
    await asyncio.to_thread(kafka.create_topics,
                            [prefix + name for name in ("tickets", "routing", "sla")], PARTITIONS)
    return await _baseline(kafka.bootstrap_servers, prefix, rate, seconds)


def main() -> None:
    """Run the benchmark and write ``bench/results/pipeline*.json``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=10.0)
    arguments = parser.parse_args()
    kafka = KafkaNode(HOME / "kafka", port=27092, controller_port=27093)
    kafka.start()
    postgres: PostgresServer | None = None
    try:
        baseline = run_baseline(kafka, arguments.seconds)
        databases = ("sqlite", "postgres") if arguments.database == "both" else (
            arguments.database,)
        for database in databases:
            urls: dict[str, str] = {}
            if database == "postgres":
                postgres = postgres or PostgresServer(HOME / "postgres", port=27432)
                postgres.start()
                stem = unique_name("bench")
                urls = {name: postgres.create_database(f"{stem}_{name}")
                        for name in SERVICE_PORTS}
            phases = run_helpline(kafka, urls, arguments.seconds)
            full, offered = phases["full"], phases["offered"]
            write_result(
                f"pipeline-{database}",
                metric="sustained tickets/s, created over HTTP to assigned + clock + webhook",
                value=full.throughput, unit="tickets/s",
                baseline="raw aiokafka pipeline, same hops", baseline_value=baseline[
                    "full"].throughput,
                target=">= 500 tickets/s; p99 201->assignment < 50 ms at 100/s",
                passed=full.throughput >= 500 and offered.assignment_p99_ms < 50,
                packages=("aiokafka", "faststream", "sqlalchemy", "fastapi"),
                extra={"phases": {k: vars(v) for k, v in phases.items()},
                       "baseline_phases": {k: vars(v) for k, v in baseline.items()},
                       "offered_rate": OFFERED_RATE, "seconds": arguments.seconds},
            )
    finally:
        if postgres is not None:
            postgres.stop()
        kafka.stop()


if __name__ == "__main__":
    main()

"""Tickets through all four services on the real broker, next to the physical limit.

Helpline: tickets are created over HTTP at fixed offered rates, then at full speed; a ticket is
done when its assignment and its SLA clock start are on Kafka, the signed webhook for its
assignment reached a local receiver and its acknowledgement email was accepted by a local SMTP
server (notify's ``notification.delivered`` for the ``ticket.created`` email). Latency runs from
the HTTP 201 to the assignment event, to the webhook's arrival and to the acknowledgement.

The services trust the real identity service, started with them as production runs it: tenant
``bench``, its admin and an admin API key are made through identity's API, and every request
carries that key (introspected at identity, cached by each service).

Baseline, same run, same broker: ``raw_pipeline.py`` (raw aiokafka, same hops, no database, no
logic) at the same rates. Our full-speed throughput is reported as a ratio of its full speed.
A chart of latency against offered rate goes to ``bench/results/pipeline.png``.

Usage: ``python bench/pipeline.py [--database sqlite|postgres|both] [--seconds 8]``.
"""

import argparse
import asyncio
import hashlib
import itertools
import json
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path

import httpx
from common import RESULTS, cpu_seconds, median, percentile, write_result
from raw_pipeline import Phase, per_ticket, process_id, run_baseline

from helpline_devstack._proc import free_port
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.mailsink import MailSink
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.stack import SERVICE_PORTS, Stack
from helpline_devstack.testing import TopicRecorder, WebhookReceiver, unique_name
from helpline_shared import topics
from helpline_shared.topics import PARTITIONS, all_topics

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".helpline" / "bench"
TENANT = "bench"
TICKET_SERVICES = tuple(name for name in SERVICE_PORTS if name != "identity")
SERVICES = (*TICKET_SERVICES, "identity")
ASSIGNED = "helpline.ticket.assigned.v1"
CLOCK_STARTED = "helpline.sla.clock_started.v1"
DELIVERED = "helpline.notification.delivered.v1"
CREATED = "helpline.ticket.created.v1"
RATES: tuple[float | None, ...] = (5.0, 10.0, 20.0, 50.0, 100.0, None)
TARGET_RATE = 100.0
_numbers = itertools.count()


async def _create_tickets(url: str, token: str, rate: float | None, seconds: float,
                          concurrency: int = 32) -> dict[str, float]:
    """POST tickets for ``seconds`` at ``rate`` per second (None: as fast as possible)."""
    created: dict[str, float] = {}
    # One requester per ticket: notify caps the mail one address gets per hour.
    requesters = (f"customer{number}@bench.example" for number in _numbers)
    async with httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=concurrency),
                                 timeout=60, headers={"authorization": f"Bearer {token}"}
                                 ) as client:
        started = time.monotonic()
        deadline = started + seconds

        async def one() -> None:
            response = await client.post("/v1/tickets", json={
                "subject": "Export fails", "description": "bench", "tags": ["bench"],
                "requester": {"email": next(requesters)}, "priority": "normal"})
            response.raise_for_status()
            created[response.json()["id"]] = time.time()

        if rate is None:
            async def worker() -> None:
                while time.monotonic() < deadline:
                    await one()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        else:
            tasks = []
            while time.monotonic() < deadline:
                await asyncio.sleep(max(0.0, started + len(tasks) / rate - time.monotonic()))
                tasks.append(asyncio.create_task(one()))
            await asyncio.gather(*tasks)
    return created


class Progress:
    """What has happened to each ticket so far, read incrementally from the recorder and the
    receiver (re-reading everything every time made the harness the busiest process)."""

    def __init__(self, recorder: TopicRecorder, receiver: WebhookReceiver) -> None:
        self._recorder, self._receiver = recorder, receiver
        self._records_seen = self._calls_seen = 0
        self.assigned: dict[str, float] = {}
        self.clocks: set[str] = set()
        self.acknowledged: dict[str, float] = {}
        self.hooks: dict[str, float] = {}

    def update(self) -> None:
        """Take in the records and webhook calls that arrived since the last update."""
        records = self._recorder.records()[self._records_seen:]
        self._records_seen += len(records)
        for record in records:
            ticket = record.key.decode() if record.key else ""
            if record.event_type == ASSIGNED:
                self.assigned.setdefault(ticket, record.received_at)
            elif record.event_type == CLOCK_STARTED:
                self.clocks.add(ticket)
            elif record.event_type == DELIVERED:
                data = json.loads(record.value)
                if data["channel"] == "email" and data["trigger_event_type"] == CREATED:
                    self.acknowledged.setdefault(ticket, record.received_at)
        calls = self._receiver.received()[self._calls_seen:]
        self._calls_seen += len(calls)
        for call in calls:
            self.hooks.setdefault(json.loads(call.body)["data"]["ticket_id"], call.received_at)

    def done(self, tickets: Iterable[str]) -> list[str]:
        """The tickets assigned, with a clock, a webhook and an acknowledgement."""
        return [t for t in tickets if t in self.assigned and t in self.clocks
                and t in self.hooks and t in self.acknowledged]


def _measure(rate: float | None, created: dict[str, float], progress: Progress,
             wait: float) -> Phase:
    deadline = time.monotonic() + wait
    while True:
        progress.update()
        done = progress.done(created)
        if len(done) == len(created) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if not done:
        raise RuntimeError("no ticket completed")
    assigned, hooks, acknowledged = progress.assigned, progress.hooks, progress.acknowledged
    last = max(max(assigned[t], hooks[t], acknowledged[t]) for t in done)
    to_assignment = [(assigned[t] - created[t]) * 1000 for t in done]
    to_webhook = [(hooks[t] - created[t]) * 1000 for t in done]
    to_acknowledgement = [(acknowledged[t] - created[t]) * 1000 for t in done]
    return Phase(rate, len(created), len(done), len(done) / (last - min(created.values())),
                 median(to_assignment), percentile(to_assignment, 0.99),
                 median(to_webhook), percentile(to_webhook, 0.99),
                 median(to_acknowledgement), percentile(to_acknowledgement, 0.99))


def _start_identity(stack: Stack) -> str:
    """Start identity; make tenant ``bench`` with its admin through its API; an admin API key."""
    operator_key, password = secrets.token_urlsafe(32), secrets.token_urlsafe(18)
    url = f"http://127.0.0.1:{stack.ports['identity']}"
    stack.start("identity", {
        "HELPLINE_ISSUER": url,
        "HELPLINE_OPERATOR_KEY_SHA256": hashlib.sha256(operator_key.encode()).hexdigest()})
    admin = {"name": "Bench admin", "email": "admin@bench.example", "password": password}
    with httpx.Client(base_url=url, timeout=30) as identity:
        identity.post("/v1/tenants", headers={"authorization": f"Bearer {operator_key}"},
                      json={"tenant_id": TENANT, "name": "Bench", "admin": admin}
                      ).raise_for_status()
        login = identity.post("/v1/login", json={"tenant": TENANT, "email": admin["email"],
                                                 "password": password})
        login.raise_for_status()
        key = identity.post("/v1/api-keys", json={"name": "bench", "scopes": ["admin"]},
                            headers={"authorization": f"Bearer {login.json()['access_token']}"})
        key.raise_for_status()
    return str(key.json()["key"])


def _prepare_tenant(stack: Stack, token: str, webhook_url: str) -> None:
    headers = {"authorization": f"Bearer {token}"}
    for index in range(20):
        httpx.post(stack.running["routing"].url + "/v1/agents", headers=headers,
                   json={"name": f"agent {index}", "email": f"a{index}@b.example",
                         "skills": {"bench": 5}, "capacity": {"api": 1000, "email": 1000},
                         "presence": "available"}).raise_for_status()
    httpx.post(stack.running["notify"].url + "/v1/webhook-endpoints", headers=headers,
               json={"url": webhook_url, "event_types": [ASSIGNED]}).raise_for_status()


def run_helpline(kafka: KafkaNode, database_urls: dict[str, str], seconds: float,
                 postgres_pid: int | None) -> list[Phase]:
    """One phase per offered rate against the four services and identity as processes."""
    prefix = unique_name("bench") + "."
    kafka.create_topics([prefix + topic for topic in all_topics()], PARTITIONS)
    home = HOME / prefix.rstrip(".")
    mail = MailSink(home / "mail", port=free_port())
    mail.start()
    phases = []
    with WebhookReceiver() as receiver:
        ports = {name: free_port() for name in SERVICES}
        identity_url = f"http://127.0.0.1:{ports['identity']}"
        stack = Stack(home, kafka.bootstrap_servers, ports=ports, database_urls=database_urls,
                      environment={"HELPLINE_TOPIC_PREFIX": prefix,
                                   "HELPLINE_IDENTITY_URL": identity_url,
                                   "HELPLINE_IDENTITY_ISSUER": identity_url,
                                   "HELPLINE_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
                                   "HELPLINE_SMTP_PORT": str(mail.port),
                                   "HELPLINE_LOG_LEVEL": "WARNING"})
        try:
            token = _start_identity(stack)
            for name in TICKET_SERVICES:
                stack.start(name)
            _prepare_tenant(stack, token, receiver.url + "/hook")
            watched = [prefix + topics.ROUTING, prefix + topics.SLA, prefix + topics.NOTIFICATIONS]
            processes = {name: stack.running[name].process.pid for name in SERVICES}
            processes |= {"kafka": process_id(kafka), "load generator": os.getpid()}
            if postgres_pid is not None:
                processes["postgres"] = postgres_pid
            with TopicRecorder(kafka.bootstrap_servers, watched) as recorder:
                progress = Progress(recorder, receiver)
                for rate in RATES:
                    cpu_before = cpu_seconds(processes)
                    created = asyncio.run(_create_tickets(stack.running["intake"].url, token,
                                                          rate, seconds))
                    phase = _measure(rate, created, progress, wait=180)
                    phase.cpu_ms_per_ticket = per_ticket(cpu_before, cpu_seconds(processes),
                                                         phase.completed)
                    phases.append(phase)
                    print(f"  {rate or 'full'}/s: {vars(phases[-1])}", flush=True)
        finally:
            stack.stop_all()
            mail.stop()
    return phases


def chart(series: dict[str, list[Phase]], path: Path) -> None:
    """Latency (201 to assignment, p50 and p99) against the offered rate, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    for label, phases in series.items():
        fixed = [p for p in phases if p.rate is not None]
        rates = [p.rate for p in fixed]
        line = axes.plot(rates, [p.assignment_p99_ms for p in fixed], marker="o",
                         label=f"{label} p99")[0]
        axes.plot(rates, [p.assignment_p50_ms for p in fixed], marker=".", linestyle="--",
                  color=line.get_color(), label=f"{label} p50")
    axes.axhline(50, color="grey", linewidth=0.8, linestyle=":", label="target p99 50 ms")
    axes.set(xscale="log", yscale="log", xlabel="offered tickets/s",
             ylabel="HTTP 201 -> assignment event (ms)",
             title="Helpline pipeline latency against offered rate")
    axes.legend(fontsize="small")
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    print(f"chart: {path}")


def _report(database: str, phases: list[Phase], baseline: list[Phase], seconds: float) -> None:
    full = next(p for p in phases if p.rate is None)
    at_target = next(p for p in phases if p.rate == TARGET_RATE)
    write_result(
        f"pipeline-{database}",
        metric="sustained tickets/s, HTTP to assigned + clock + webhook + ack email",
        value=full.throughput, unit="tickets/s",
        baseline="raw aiokafka pipeline, same hops",
        baseline_value=next(p for p in baseline if p.rate is None).throughput,
        target=">= 500 tickets/s; p99 201->assignment < 50 ms at 100/s",
        passed=full.throughput >= 500 and at_target.assignment_p99_ms < 50,
        packages=("aiokafka", "faststream", "sqlalchemy", "fastapi"),
        extra={"phases": [vars(p) for p in phases],
               "baseline_phases": [vars(p) for p in baseline], "seconds": seconds},
    )


def main() -> None:
    """Run the benchmark; write ``bench/results/pipeline-*.json`` and the chart."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=8.0)
    arguments = parser.parse_args()
    kafka = KafkaNode(HOME / "kafka", port=27092, controller_port=27093)
    kafka.start()
    postgres: PostgresServer | None = None
    try:
        baseline = run_baseline(kafka, RATES, arguments.seconds)
        series = {"raw aiokafka": baseline}
        databases = ("sqlite", "postgres") if arguments.database == "both" else (
            arguments.database,)
        for database in databases:
            urls: dict[str, str] = {}
            postgres_pid = None
            if database == "postgres":
                postgres = PostgresServer(HOME / "postgres", port=27432)
                postgres.start()
                stem = unique_name("bench")
                urls = {name: postgres.create_database(f"{stem}_{name}") for name in SERVICES}
                postgres_pid = process_id(postgres)
            series[f"Helpline {database}"] = phases = run_helpline(
                kafka, urls, arguments.seconds, postgres_pid)
            _report(database, phases, baseline, arguments.seconds)
        RESULTS.mkdir(parents=True, exist_ok=True)
        chart(series, RESULTS / "pipeline.png")
    finally:
        if postgres is not None:
            postgres.stop()
        kafka.stop()


if __name__ == "__main__":
    main()

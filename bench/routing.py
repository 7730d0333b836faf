"""Routing decisions: decisions per second and p99 decision latency, 10,000 agents, 200 skills.

Helpline's indexed ``AgentPool`` against ``decide_linear`` (a scan over every agent, no index) on
the same agents and the same request sequence, in the same run. A decision picks the winner by
the tie policy and reserves one unit of its capacity; every decision also releases an earlier
assignment at random, so the load stays steady and the index is exercised by updates too. Both
engines must pick the same winners (checked on the baseline's decisions).

Then the same decisions through the service: ``TicketCreated`` records consumed through routing's
handler table in batches of 100 on a SQLite database holding ``--service-agents`` agents
(classification, the decision on the cached pool, the reservation, the events, the commit),
next to the same path with the pool rebuilt from the database for every decision (what each
decision cost before routing kept its pool).

Run: ``python bench/routing.py [--agents 10000] [--skills 200] [--decisions 20000]
[--service-agents 2000] [--service-decisions 1000] [--service-baseline-decisions 30]``.
"""

import argparse
import asyncio
import copy
import gc
import os
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import percentile, write_result
from opentelemetry.trace import NoOpTracer
from sqlalchemy.ext.asyncio import async_sessionmaker

from helpline_routing.adapters.orm import metadata
from helpline_routing.bootstrap import MIGRATIONS
from helpline_routing.domain.decision import Decision, decide_linear
from helpline_routing.domain.engine import AgentPool
from helpline_routing.domain.model import Agent, RoutingRequest
from helpline_routing.service_layer import handlers
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork, pools_of
from helpline_shared.envelope import Envelope, to_record
from helpline_shared.events import Requester, TicketCreated
from helpline_shared.runtime.consumer import DeadLetters, HandlerTable, TableConsumer
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table, utcnow
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.testing import FakeKafkaConsumer, RecordingProducer, raw_record

LANGUAGES = ("en", "de", "fr", "es", "it")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_agents(count: int, skills: list[str], rng: random.Random) -> list[Agent]:
    """Agents with 8 skills each, popular skills more common (Zipf-like), mixed presence."""
    weights = [1 / (rank + 1) ** 0.7 for rank in range(len(skills))]
    agents = []
    for index in range(count):
        chosen = set(rng.choices(skills, weights, k=8))
        agents.append(
            Agent(
                id=f"agent-{index:05d}",
                tenant_id="bench",
                name=f"Agent {index}",
                email=f"a{index}@bench.test",
                skills={skill: rng.randint(1, 10) for skill in chosen},
                presence=rng.choices(["available", "busy", "away", "offline"], [8, 1, 1, 1])[0],
                capacity={"email": 5, "api": 3},
                active={"email": rng.randint(0, 4), "api": rng.randint(0, 2)},
                created_at=T0 + timedelta(seconds=index),
                last_assigned_at=T0 + timedelta(seconds=rng.randint(0, 86_400)),
                languages=frozenset(rng.sample(LANGUAGES, rng.randint(1, 2))),
                teams=frozenset({f"team-{rng.randint(0, 9)}"}),
            )
        )
    return agents


def make_requests(count: int, skills: list[str], rng: random.Random) -> list[RoutingRequest]:
    """Tickets needing 1 to 3 skills (popular ones more often), some with a team or language."""
    weights = [1 / (rank + 1) ** 0.7 for rank in range(len(skills))]
    requests = []
    for _ in range(count):
        needed = set(rng.choices(skills, weights, k=rng.choice((1, 1, 2, 2, 3))))
        requests.append(
            RoutingRequest(
                required_skills={skill: rng.randint(1, 6) for skill in needed},
                channel=rng.choice(("email", "api")),
                teams=frozenset({f"team-{rng.randint(0, 9)}"})
                if rng.random() < 0.3
                else frozenset(),
                language=rng.choice(LANGUAGES) if rng.random() < 0.3 else None,
            )
        )
    return requests


def run(
    engine: str, agents: list[Agent], requests: list[RoutingRequest], seed: int, explain: int = 0
) -> tuple[list[float], list[str | None]]:
    """Decide every request (reserving the winner, releasing an earlier one); latencies in s."""
    pool = AgentPool(agents)
    # Long-lived agent data moves out of the collector's way, as a service would do at start.
    gc.collect()
    gc.freeze()
    rng = random.Random(seed)
    held: list[tuple[str, str]] = []
    latencies: list[float] = []
    winners: list[str | None] = []
    for request in requests:
        started = time.perf_counter()
        if engine == "index":
            decision: Decision = pool.decide(request, depth=1, explain=explain)
        else:
            decision = decide_linear(agents, request, depth=1, explain=explain)
        winner = decision.winner
        if winner is not None:
            pool.reserve(winner.id, request.channel)
        latencies.append(time.perf_counter() - started)
        winners.append(winner.id if winner else None)
        if winner is not None:
            held.append((winner.id, request.channel))
        if held and rng.random() < 0.9:
            pool.release(*held.pop(rng.randrange(len(held))))
    gc.unfreeze()
    return latencies, winners


def ticket_for(request: RoutingRequest, number: int) -> TicketCreated:
    """A new ticket the default rules classify as ``request`` (its tags are its skills)."""
    return TicketCreated(
        tenant_id="bench",
        ticket_id=f"t-{number}",
        occurred_at=utcnow(),
        subject="S",
        description="D",
        requester=Requester(email="cy@example.org"),
        priority="normal",
        type="question",
        tags=tuple(request.required_skills),
        language=request.language,
        channel="email" if request.channel == "email" else "api",
    )


async def through_service(
    agents: list[Agent], requests: list[RoutingRequest], *, rebuild_each: bool, batch: int
) -> tuple[float, list[float]]:
    """Consume a ``TicketCreated`` per request through routing's handler table on a fresh
    SQLite database holding ``agents``: (decisions per second, handler latencies in s)."""
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'routing.db'}"
        await asyncio.to_thread(upgrade, MIGRATIONS, url)
        engine = create_engine(url)
        sessions = async_sessionmaker(engine, expire_on_commit=False)

        def unit_of_work() -> RoutingUnitOfWork:
            return RoutingUnitOfWork(
                sessions,
                outbox_table=outbox_table(metadata),
                inbox_table=inbox_table(metadata),
                source="/bench",
            )

        async with unit_of_work() as uow:
            for agent in agents:
                await uow.agents.add(agent)
            await uow.commit()
        latencies: list[float] = []
        route = handlers.handler_table().get(TicketCreated.event_type)
        assert route is not None

        async def timed(uow: RoutingUnitOfWork, envelope: Envelope) -> None:
            if rebuild_each:
                pools_of(sessions).forget("bench")
            started = time.perf_counter()
            await route(uow, envelope)
            latencies.append(time.perf_counter() - started)

        apply: Callable[[RoutingUnitOfWork, Envelope], Awaitable[None]] = timed
        table: HandlerTable[RoutingUnitOfWork] = HandlerTable("routing", {TicketCreated: apply})
        consumer = TableConsumer(
            table=table,
            unit_of_work=unit_of_work,
            dead_letters=DeadLetters(RecordingProducer(), "bench"),
            tracer=NoOpTracer(),
            group="bench",
        )
        records = [
            to_record(ticket_for(request, n), source="/bench") for n, request in enumerate(requests)
        ]
        raw: list[Any] = [
            raw_record(r.headers, r.value, offset=n, key=r.key) for n, r in enumerate(records)
        ]
        async with unit_of_work() as uow:
            await uow.pools.pool("bench")  # built once at start, as the service does
        started = time.perf_counter()
        for start in range(0, len(raw), batch):
            await consumer.consume(raw[start : start + batch], FakeKafkaConsumer())
        elapsed = time.perf_counter() - started
        await engine.dispose()
    return len(requests) / elapsed, latencies


def main() -> None:
    """Measure both engines and write ``bench/results/routing.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--skills", type=int, default=200)
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--baseline-decisions", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--service-agents", type=int, default=2_000)
    parser.add_argument("--service-decisions", type=int, default=1_000)
    parser.add_argument("--service-baseline-decisions", type=int, default=30)
    arguments = parser.parse_args()
    rng = random.Random(42)
    skills = [f"skill-{index:03d}" for index in range(arguments.skills)]
    agents = make_agents(arguments.agents, skills, rng)
    requests = make_requests(arguments.decisions, skills, rng)

    rates, p99s, p50s = [], [], []
    for _ in range(arguments.repeats):
        latencies, _winners = run("index", copy.deepcopy(agents), requests, seed=1)
        rates.append(len(latencies) / sum(latencies))
        p99s.append(percentile(latencies, 0.99))
        p50s.append(percentile(latencies, 0.50))
    explained, _winners = run("index", copy.deepcopy(agents), requests[:5000], seed=1, explain=20)

    prefix = requests[: arguments.baseline_decisions]
    base_rates, base_p99s = [], []
    for _ in range(arguments.repeats):
        base_latencies, base_winners = run("linear", copy.deepcopy(agents), prefix, seed=1)
        base_rates.append(len(base_latencies) / sum(base_latencies))
        base_p99s.append(percentile(base_latencies, 0.99))
    _latencies, index_winners = run("index", copy.deepcopy(agents), prefix, seed=1)
    agree = index_winners == base_winners
    assigned = sum(winner is not None for winner in index_winners)

    rate, p99 = statistics.median(rates), statistics.median(p99s)
    passed = agree and rate >= 5_000 and p99 < 0.002
    print(
        f"index: {rate:,.0f} decisions/s, p50 {statistics.median(p50s) * 1e6:.0f} us,"
        f" p99 {p99 * 1e3:.3f} ms; with explanations (20 candidates):"
        f" {len(explained) / sum(explained):,.0f}/s, p99 {percentile(explained, 0.99) * 1e3:.3f}"
        f" ms"
    )
    print(
        f"linear scan: {statistics.median(base_rates):,.0f} decisions/s,"
        f" p99 {statistics.median(base_p99s) * 1e3:.3f} ms; same winners: {agree}"
        f" ({assigned}/{len(prefix)} assigned)"
    )
    service_agents = make_agents(arguments.service_agents, skills, random.Random(7))
    service_requests = make_requests(arguments.service_decisions, skills, random.Random(8))
    service_rate, service_latencies = asyncio.run(
        through_service(service_agents, service_requests, rebuild_each=False, batch=100)
    )
    rebuilt_rate, rebuilt_latencies = asyncio.run(
        through_service(
            service_agents,
            service_requests[: arguments.service_baseline_decisions],
            rebuild_each=True,
            batch=10,
        )
    )
    print(
        f"through the service ({arguments.service_agents} agents, SQLite, batches of 100):"
        f" {service_rate:,.0f} decisions/s, handler p50"
        f" {percentile(service_latencies, 0.5) * 1e3:.2f} ms, p99"
        f" {percentile(service_latencies, 0.99) * 1e3:.2f} ms; pool rebuilt per decision"
        f" (before): {rebuilt_rate:,.1f} decisions/s, handler p50"
        f" {percentile(rebuilt_latencies, 0.5) * 1e3:.1f} ms"
    )
    write_result(
        "routing",
        metric="assignment decisions per second (10k agents, 200 skills)",
        value=rate,
        unit="decisions/s",
        baseline_value=statistics.median(base_rates),
        baseline="linear scan over every agent",
        target=">= 5000/s and p99 < 2 ms",
        passed=passed,
        extra={
            "p99_ms": p99 * 1e3,
            "p50_ms": statistics.median(p50s) * 1e3,
            "baseline_p99_ms": statistics.median(base_p99s) * 1e3,
            "p99_ms_runs": [value * 1e3 for value in p99s],
            "rates": rates,
            "baseline_rates": base_rates,
            "same_winners": agree,
            "explained_decisions_per_second": len(explained) / sum(explained),
            "explained_p99_ms": percentile(explained, 0.99) * 1e3,
            "service": {
                "path": "TicketCreated through the handler table, batches of 100, SQLite",
                "agents": arguments.service_agents,
                "decisions": arguments.service_decisions,
                "decisions_per_second": service_rate,
                "handler_p50_ms": percentile(service_latencies, 0.5) * 1e3,
                "handler_p99_ms": percentile(service_latencies, 0.99) * 1e3,
                "baseline": "the same path, pool rebuilt from the database per decision",
                "baseline_decisions": arguments.service_baseline_decisions,
                "baseline_decisions_per_second": rebuilt_rate,
                "baseline_handler_p50_ms": percentile(rebuilt_latencies, 0.5) * 1e3,
                "baseline_handler_p99_ms": percentile(rebuilt_latencies, 0.99) * 1e3,
            },
            "agents": arguments.agents,
            "skills": arguments.skills,
            "decisions": arguments.decisions,
            "repeats": arguments.repeats,
            "load_average_after": os.getloadavg(),
        },
    )


if __name__ == "__main__":
    main()

"""Per-endpoint isolation on real PostgreSQL and real HTTP: a hanging endpoint delays nobody else.

One endpoint holds every request for 30 s. With a backlog of its deliveries queued first and the
worker's send slots fewer than that backlog, a healthy endpoint's deliveries must still arrive
within a second of their event (p99), because each endpoint may only use a few slots at a time.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from notify_rig import (
    Answer,
    NotifyRig,
    ScriptedReceiver,
    migrated_engine,
    new_ticket_id,
    ticket_assigned,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_devstack.postgres import PostgresServer
from helpline_notify.service_layer.worker import WorkerOptions

ASSIGNED = ("helpline.ticket.assigned.v1",)
BACKLOG = 30
HEALTHY_EVENTS = 30


pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(postgres: PostgresServer) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(postgres) as engine:
        yield engine


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def test_a_hanging_endpoint_does_not_delay_a_healthy_one(engine: AsyncEngine) -> None:
    options = WorkerOptions(
        email_domain="acme.example",
        send_timeout=15.0,
        max_in_flight=16,
        max_per_destination=4,
        batch_size=16,
        poll_interval=0.05,
    )
    rig = NotifyRig(engine, options=options)
    with ScriptedReceiver(Answer(204, delay=30.0)) as hanging, ScriptedReceiver() as healthy:
        await rig.add_endpoint(hanging.url + "/slow", ASSIGNED)
        for _ in range(BACKLOG):
            await rig.emit(ticket_assigned(new_ticket_id()))
        await rig.add_endpoint(healthy.url + "/fast", ASSIGNED)
        runner = asyncio.create_task(rig.worker.run())
        try:
            await asyncio.sleep(0.5)  # the worker is now stuck on the hanging endpoint's slots
            sent_at: dict[str, float] = {}
            for _ in range(HEALTHY_EVENTS):
                ticket_id = new_ticket_id()
                sent_at[ticket_id] = time.time()
                await rig.emit(ticket_assigned(ticket_id))
                await asyncio.sleep(0.05)
            for _ in range(200):  # at most 10 s
                if len(healthy.received()) >= HEALTHY_EVENTS:
                    break
                await asyncio.sleep(0.05)
        finally:
            await rig.worker.stop(grace=0.1)
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            await rig.aclose()

    assert len(hanging.received()) <= options.max_per_destination, "4 slots, no more"
    latencies = [
        call.at - sent_at[json.loads(call.body)["data"]["ticket_id"]] for call in healthy.received()
    ]
    assert len(latencies) == HEALTHY_EVENTS
    assert percentile(latencies, 0.99) < 1.0, f"healthy p99 {percentile(latencies, 0.99):.3f} s"

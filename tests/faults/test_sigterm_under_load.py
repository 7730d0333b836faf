"""SIGTERM in the middle of a burst: the service finishes in-flight work, commits and exits;
after a restart every event has had its effect exactly once."""

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from helpline_devstack._proc import free_port
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.stack import Stack
from helpline_devstack.testing import TopicRecorder, own_keys, unique_name, wait_until
from helpline_shared import topics
from helpline_shared.envelope import to_record
from helpline_shared.events import TicketCreated
from helpline_shared.events.base import Requester
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import stand_in_identity

pytestmark = pytest.mark.integration

TICKETS = 2000
CLOCK_STARTED = "helpline.sla.clock_started.v1"
GRACE_SECONDS = 30


async def publish_tickets(servers: str, topic: str, tenant: str) -> list[str]:
    """Publish ``TICKETS`` ticket-created events to ``topic``; return the ticket ids."""
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=5)
    await producer.start()
    ids = [f"T-{index:04d}-{unique_name('s')}" for index in range(TICKETS)]
    try:
        for ticket_id in ids:
            record = to_record(
                TicketCreated(
                    tenant_id=tenant,
                    ticket_id=ticket_id,
                    occurred_at=utcnow(),
                    subject="Burst",
                    description="load",
                    requester=Requester(email="l@example.org"),
                    priority="normal",
                    type="corrective",
                    channel="api",
                ),
                source="/tests/faults",
            )
            await producer.send(
                topic, value=record.value, key=record.key, headers=list(record.headers)
            )
        await producer.flush()
    finally:
        await producer.stop()
    return ids


def test_sigterm_under_load_loses_and_duplicates_nothing(
    kafka: KafkaNode, postgres: PostgresServer, topic_prefix: str, tmp_path: Path
) -> None:
    stack = Stack(
        tmp_path,
        kafka.bootstrap_servers,
        ports={"escalation": free_port()},
        database_urls={"escalation": postgres.create_database(unique_name("sigterm"))},
        service_environment=own_keys(),
        environment={
            "HELPLINE_TOPIC_PREFIX": topic_prefix,
            **stand_in_identity().environment(),
            "HELPLINE_RELAY_POLL_INTERVAL": "0.2",
            "HELPLINE_SHUTDOWN_TIMEOUT": "20",
        },
    )
    sla_topic = topic_prefix + topics.SLA
    with TopicRecorder(kafka.bootstrap_servers, [sla_topic]) as recorder:
        service = stack.start("escalation")
        ids = asyncio.run(
            publish_tickets(
                kafka.bootstrap_servers, topic_prefix + topics.TICKETS, unique_name("load")
            )
        )
        # Stop while the burst is being worked through, not before or after it.
        wait_until(lambda: len(recorder.events(CLOCK_STARTED)) >= 10, 60, "the first clocks")
        started = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        exit_code = service.process.wait(GRACE_SECONDS)
        stopped_after = time.monotonic() - started
        stack.running.pop("escalation")
        log_after_stop = service.log_file.read_text()
        published_before_restart = len(recorder.events(CLOCK_STARTED))

        restarted = stack.start("escalation")
        wait_until(
            lambda: len(recorder.events(CLOCK_STARTED)) >= TICKETS,
            120,
            f"a clock for each of {TICKETS} tickets",
        )
        time.sleep(2.0)  # a duplicate, if there were one, would arrive by now
        metrics = httpx.get(restarted.url + "/metrics").text
        stack.stop_all()

    # uvicorn re-raises the signal once it has shut down, so -SIGTERM means a clean exit too.
    assert exit_code in (0, -signal.SIGTERM), f"exit code {exit_code}"
    assert '"message": "service stopped"' in log_after_stop
    assert stopped_after < GRACE_SECONDS
    assert published_before_restart < TICKETS, "the burst was over before SIGTERM"
    per_ticket = Counter((r.key or b"").decode() for r in recorder.events(CLOCK_STARTED))
    assert set(per_ticket) == set(ids)
    assert [t for t, count in per_ticket.items() if count != 1] == []
    lag = f'helpline_consumer_lag{{group="helpline-escalation",partition="0",topic="{topic_prefix}'
    assert lag in metrics

"""SLA timers due while escalation is killed: after the restart every warning, breach and
escalation level is published exactly once (by ``ce_id``), none lost; with two replicas too."""

import asyncio
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
from helpline_shared.events import Requester, TicketCreated
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import stand_in_identity

pytestmark = pytest.mark.integration

TICKETS = 20
TARGET_SECONDS = 8
STARTED = "helpline.sla.clock_started.v1"
WARNING = "helpline.sla.warning.v1"
BREACHED = "helpline.sla.breached.v1"
ESCALATED = "helpline.sla.escalated.v1"
POLICY = {
    "name": "Fast",
    "position": 0,
    "calendar": {"name": "24/7", "always_open": True},
    "metrics": {
        "first_response": {
            "targets": {"normal": TARGET_SECONDS},
            "warnings": [{"fraction_left": 0.5}],
            "escalations": [
                {"level": 1, "offset_seconds": 0, "notify": ["assignee"]},
                {"level": 2, "offset_seconds": 1, "notify": ["team_lead"]},
                {
                    "level": 3,
                    "offset_seconds": 2,
                    "notify": ["manager"],
                    "raise_priority_to": "urgent",
                },
            ],
        }
    },
}


def replica(tmp_path: Path, kafka: KafkaNode, database_url: str, prefix: str, name: str) -> Stack:
    """One escalation process of its own (port, logs), sharing the database and topics."""
    return Stack(
        tmp_path / name,
        kafka.bootstrap_servers,
        ports={"escalation": free_port()},
        database_urls={"escalation": database_url},
        service_environment=own_keys(),
        environment={"HELPLINE_TOPIC_PREFIX": prefix, **stand_in_identity().environment()},
    )


async def produce_tickets(kafka: KafkaNode, prefix: str, tenant: str) -> list[str]:
    """Publish ``TICKETS`` new tickets as intake would; return their ids."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    ticket_ids = [unique_name("tk") for _ in range(TICKETS)]
    try:
        for ticket_id in ticket_ids:
            record = to_record(
                TicketCreated(
                    tenant_id=tenant,
                    ticket_id=ticket_id,
                    occurred_at=utcnow(),
                    subject="Down",
                    description="All of it",
                    requester=Requester(email="cy@example.org"),
                    priority="normal",
                    type="corrective",
                    channel="api",
                ),
                source="/tests",
            )
            await producer.send_and_wait(
                prefix + record.topic,
                value=record.value,
                key=record.key,
                headers=list(record.headers),
            )
    finally:
        await producer.stop()
    return ticket_ids


def expected_once(recorder: TopicRecorder, ticket_ids: list[str]) -> Counter[tuple[str, str]]:
    """Distinct ``ce_id``s per (ticket, what): a warning, a breach and each level."""
    seen: dict[tuple[str, str], set[str]] = {}
    for event_type in (WARNING, BREACHED, ESCALATED):
        for record in recorder.events(event_type):
            ticket = (record.key or b"").decode()
            if ticket not in ticket_ids:
                continue
            what = f"level-{record.data()['level']}" if event_type == ESCALATED else event_type
            seen.setdefault((ticket, what), set()).add(record.event_id)
    return Counter({key: len(ids) for key, ids in seen.items()})


def run_crash_scenario(
    tmp_path: Path, kafka: KafkaNode, postgres: PostgresServer, prefix: str, replicas: int
) -> None:
    database_url = postgres.create_database(unique_name("esc"))
    stacks = [
        replica(tmp_path, kafka, database_url, prefix, f"replica-{index}")
        for index in range(replicas)
    ]
    tenant = unique_name("acme")
    with TopicRecorder(kafka.bootstrap_servers, [prefix + topics.SLA]) as recorder:
        services = [stack.start("escalation") for stack in stacks]
        admin = stand_in_identity().api_key(tenant)
        response = httpx.put(
            services[0].url + "/v1/sla/policies/fast",
            json=POLICY,
            headers={"authorization": f"Bearer {admin}"},
        )
        assert response.status_code == 200, response.text
        ticket_ids = asyncio.run(produce_tickets(kafka, prefix, tenant))
        wait_until(
            lambda: (
                len([r for r in recorder.events(STARTED) if (r.key or b"").decode() in ticket_ids])
                >= TICKETS
            ),
            30,
            "every clock to start",
        )
        expected = {
            (ticket, what)
            for ticket in ticket_ids
            for what in (WARNING, BREACHED, "level-1", "level-2", "level-3")
        }
        # Kill while the breaches are due, then keep everything down past the last level.
        time.sleep(TARGET_SECONDS - 1)
        for stack in stacks:
            stack.kill("escalation")
        assert not expected <= set(expected_once(recorder, ticket_ids)), "nothing was due"
        time.sleep(3)
        for stack in stacks:
            stack.start("escalation")

        wait_until(
            lambda: expected <= set(expected_once(recorder, ticket_ids)),
            60,
            "every warning, breach and escalation level",
        )
        time.sleep(3)  # a second publication under another id would arrive by now
        counts = expected_once(recorder, ticket_ids)
        assert set(counts) == expected
        assert set(counts.values()) == {1}, {key: n for key, n in counts.items() if n != 1}
        for stack in stacks:
            stack.stop_all()


def test_timers_due_during_a_sigkill_fire_exactly_once_after_restart(
    kafka: KafkaNode, postgres: PostgresServer, topic_prefix: str, tmp_path: Path
) -> None:
    run_crash_scenario(tmp_path, kafka, postgres, topic_prefix, replicas=1)


def test_two_replicas_killed_and_restarted_fire_each_timer_once(
    kafka: KafkaNode, postgres: PostgresServer, topic_prefix: str, tmp_path: Path
) -> None:
    run_crash_scenario(tmp_path, kafka, postgres, topic_prefix, replicas=2)

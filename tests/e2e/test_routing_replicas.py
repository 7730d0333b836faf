"""Two routing processes on the real broker and PostgreSQL: no over-assignment, nothing lost.

500 tickets and 50 agents with random skills; one replica is SIGKILLed mid-run. Every ticket ends
assigned exactly once or waiting in the queue with a reason, and no agent exceeds capacity.
"""

import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from routing_harness import (
    RoutingReplicas,
    client,
    new_ticket,
    publish,
    register_agent,
    routing_events,
)

from helpline_devstack.kafka import KafkaNode
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.testing import TopicRecorder, unique_name, wait_until
from helpline_shared import topics

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SKILLS = ("exports", "billing", "sso", "network", "storage", "mobile", "api", "reports")
TICKETS = 500
AGENTS = 50


@pytest.fixture
def replicas(
    kafka: KafkaNode, postgres: PostgresServer, topic_prefix: str, tmp_path: Path
) -> Iterator[RoutingReplicas]:
    """Two routing replicas on one database (migrated by the first)."""
    running = RoutingReplicas(
        tmp_path,
        kafka.bootstrap_servers,
        postgres.create_database(unique_name("routing")),
        topic_prefix,
    )
    try:
        running.start("a")
        running.start("b")
        yield running
    finally:
        running.stop_all()


def test_two_replicas_never_over_assign_and_a_sigkill_loses_nothing(
    replicas: RoutingReplicas, kafka: KafkaNode, topic_prefix: str
) -> None:
    rng = random.Random(4)
    tenant = unique_name("replicas")
    agents = {}
    for index in range(AGENTS):
        skills = {skill: rng.randint(1, 10) for skill in rng.sample(SKILLS, 3)}
        capacity = {"api": rng.randint(1, 5), "email": rng.randint(1, 5)}
        agent = register_agent(
            replicas.url("a" if index % 2 else "b"), tenant, f"Agent{index}", skills, capacity
        )
        agents[agent["id"]] = agent
    tickets = [
        new_ticket(
            tenant,
            f"{tenant}-{index:03d}",
            rng.sample(SKILLS, rng.randint(1, 2)),
            rng.choice(["api", "email"]),
        )
        for index in range(TICKETS)
    ]
    ticket_ids = {ticket.ticket_id for ticket in tickets}

    with TopicRecorder(kafka.bootstrap_servers, [topic_prefix + topics.ROUTING]) as recorder:

        def decided() -> set[str]:
            return {
                record.key.decode()
                for kind in ("assigned", "queued")
                for record in routing_events(recorder, topic_prefix, kind)
                if record.key is not None
            } & ticket_ids

        publish(kafka.bootstrap_servers, topic_prefix, tickets[: TICKETS // 2])
        wait_until(lambda: len(decided()) >= TICKETS // 5, 60, "the first decisions")
        replicas.kill("b")
        publish(kafka.bootstrap_servers, topic_prefix, tickets[TICKETS // 2 :])
        wait_until(
            lambda: decided() == ticket_ids or None, 120, "a routing outcome for every ticket"
        )

        assignments = routing_events(recorder, topic_prefix, "assigned")
        per_ticket = Counter(record.key for record in assignments)
        assert max(per_ticket.values()) == 1, "a ticket was assigned twice"
        per_agent = Counter(
            (record.data()["agent_id"], record.data()["channel"]) for record in assignments
        )
        for (agent_id, channel), count in per_agent.items():
            assert count <= agents[agent_id]["capacity"][channel], (agent_id, channel, count)

    assigned = {record.key.decode() for record in assignments if record.key}
    with client(tenant) as http:
        shown = {agent["id"]: agent for agent in http.get(replicas.url("a") + "/v1/agents").json()}
        for (agent_id, channel), count in per_agent.items():
            assert shown[agent_id]["load"][channel] == count
        for ticket_id in sorted(ticket_ids - assigned):
            routing = http.get(replicas.url("a") + f"/v1/tickets/{ticket_id}/routing").json()
            assert routing["state"] == "waiting", routing
            assert routing["queue_reason"].startswith("no eligible agent"), routing
    assert 0 < len(assigned) < TICKETS, "the scenario must both assign and queue"

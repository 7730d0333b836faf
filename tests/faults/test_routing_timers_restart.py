"""Routing's offer expiry and relaxation timers are rows: they fire on time after a SIGKILL."""

import time
from datetime import datetime
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

pytestmark = pytest.mark.integration

WAIT_SECONDS = 10
LATENESS_ALLOWED = 5.0


def test_offer_expiry_and_relaxation_fire_on_time_after_the_process_is_killed(
    kafka: KafkaNode, postgres: PostgresServer, topic_prefix: str, tmp_path: Path
) -> None:
    routing = RoutingReplicas(
        tmp_path,
        kafka.bootstrap_servers,
        postgres.create_database(unique_name("routing_timers")),
        topic_prefix,
    )
    tenant = unique_name("timers")
    try:
        url = routing.start("only").url
        with client(tenant) as http:
            assert (
                http.put(
                    url + "/v1/routing/settings",
                    json={
                        "manual_acceptance": True,
                        "offer_timeout_seconds": WAIT_SECONDS,
                        "relaxation_waits_seconds": [WAIT_SECONDS],
                    },
                ).status_code
                == 200
            )
            assert (
                http.put(
                    url + "/v1/routing/rules",
                    json={
                        "rules": [
                            {
                                "id": "german-speaking",
                                "conditions": {"tags": ["de"]},
                                "outcome": {
                                    "required_skills": {"exports": 1},
                                    "optional_skills": {"german": {"level": 1, "priority": 1}},
                                },
                            }
                        ],
                    },
                ).status_code
                == 200
            )
        agent = register_agent(url, tenant, "Ada", {"exports": 5}, {"api": 5, "email": 5})
        offered_ticket = new_ticket(tenant, f"{tenant}-offer", ["exports"])
        relaxed_ticket = new_ticket(tenant, f"{tenant}-relax", ["de"])

        with TopicRecorder(kafka.bootstrap_servers, [topic_prefix + topics.ROUTING]) as recorder:

            def one(kind: str, ticket_id: str) -> dict[str, object] | None:
                found = [
                    r
                    for r in routing_events(recorder, topic_prefix, kind)
                    if r.key == ticket_id.encode()
                ]
                return found[0].data() if found else None

            publish(kafka.bootstrap_servers, topic_prefix, [offered_ticket, relaxed_ticket])
            offer = wait_until(lambda: one("offered", offered_ticket.ticket_id), 30, "the offer")
            queued = wait_until(lambda: one("queued", relaxed_ticket.ticket_id), 30, "the queue")
            routing.kill("only")
            time.sleep(1.0)
            routing.start("only")

            expired = wait_until(
                lambda: one("offer_expired", offered_ticket.ticket_id),
                WAIT_SECONDS + 30,
                "the offer to expire after the restart",
            )
            relaxed = wait_until(
                lambda: one("routing_relaxed", relaxed_ticket.ticket_id),
                WAIT_SECONDS + 30,
                "the relaxation step after the restart",
            )
            reoffered = wait_until(
                lambda: one("offered", relaxed_ticket.ticket_id),
                30,
                "the relaxed ticket to be offered",
            )

        expires_at = datetime.fromisoformat(str(offer["expires_at"]))
        fired_at = datetime.fromisoformat(str(expired["occurred_at"]))
        assert 0 <= (fired_at - expires_at).total_seconds() < LATENESS_ALLOWED
        relax_due = datetime.fromisoformat(str(queued["queued_at"]))
        relaxed_at = datetime.fromisoformat(str(relaxed["occurred_at"]))
        assert (
            WAIT_SECONDS
            <= (relaxed_at - relax_due).total_seconds()
            < (WAIT_SECONDS + LATENESS_ALLOWED)
        )
        assert relaxed["dropped_skill"] == "german"
        assert reoffered["agent_id"] == agent["id"]
        assert expired["agent_id"] == agent["id"] and expired["agent_set_away"] is False
    finally:
        routing.stop_all()

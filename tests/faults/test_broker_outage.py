"""Kafka stopped for 20 s under load: intake keeps accepting durably and stays in service,
nothing is lost."""

import time
from pathlib import Path

import httpx
import pytest

from helpline_devstack._proc import free_ports
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.stack import Stack
from helpline_devstack.testing import TicketLoad, TopicRecorder, own_keys, readiness, wait_until
from helpline_shared import topics
from helpline_shared.runtime.testing import stand_in_identity
from helpline_shared.topics import PARTITIONS, all_topics

pytestmark = pytest.mark.integration

OUTAGE_SECONDS = 20


def readiness_status(url: str) -> str:
    """The ``status`` of a 200 from ``url``'s ``/readyz`` ("ready", "degraded"); else ""."""
    try:
        response = httpx.get(url + "/readyz", timeout=10)
    except httpx.HTTPError:
        return ""
    return str(response.json().get("status", "")) if response.status_code == 200 else ""


def test_a_broker_outage_under_load_loses_nothing_and_services_reconnect(tmp_path: Path) -> None:
    port, controller_port, intake_port, escalation_port = free_ports(4)
    kafka = KafkaNode(tmp_path / "kafka", port=port, controller_port=controller_port)
    kafka.start()
    try:
        kafka.create_topics(all_topics(), PARTITIONS)
        stack = Stack(
            tmp_path / "stack",
            kafka.bootstrap_servers,
            ports={"intake": intake_port, "escalation": escalation_port},
            service_environment=own_keys(),
            environment={
                **stand_in_identity().environment(),
                "HELPLINE_SMTP_SERVER_ENABLED": "false",
            },
        )
        intake = stack.start("intake")
        stack.start("escalation")
        with TicketLoad(intake.url, stand_in_identity().api_key("acme")) as load:
            wait_until(lambda: len(load.accepted) >= 20, 30, "tickets before the outage")
            kafka.stop()
            wait_until(
                lambda: readiness_status(intake.url) == "degraded",
                30,
                "intake to stay in service and report Kafka degraded",
            )
            outage_started = time.monotonic()
            accepted_before = len(load.accepted)
            time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - outage_started)))
            accepted_during = len(load.accepted) - accepted_before
            assert readiness(intake.url) == 200, "the outbox accepts: intake stays in service"
            kafka.start()
            wait_until(
                lambda: readiness_status(intake.url) == "ready", 60, "intake to reach Kafka again"
            )
            time.sleep(2)
        assert accepted_during > 0, "intake accepts durably while the broker is away"
        assert set(load.statuses) <= {201, 503}, f"only 201 or 503: {set(load.statuses)}"
        with TopicRecorder(kafka.bootstrap_servers, [topics.TICKETS, topics.SLA]) as recorder:

            def all_arrived() -> bool:
                created = {
                    r.key.decode() for r in recorder.events("helpline.ticket.created.v1") if r.key
                }
                started = {
                    r.key.decode()
                    for r in recorder.events("helpline.sla.clock_started.v1")
                    if r.key
                }
                return set(load.accepted) <= created and set(load.accepted) <= started

            wait_until(all_arrived, 90, "every accepted ticket published and its clock started")
            for event_type in ("helpline.ticket.created.v1", "helpline.sla.clock_started.v1"):
                ids_by_ticket: dict[str, set[str]] = {}
                for record in recorder.events(event_type):
                    ids_by_ticket.setdefault(record.key.decode() if record.key else "", set()).add(
                        record.event_id
                    )
                assert all(len(ids_by_ticket[t]) == 1 for t in load.accepted), event_type
        stack.stop_all()
    finally:
        kafka.stop()

"""PostgreSQL restarted under load: intake answers 201 or 503, never accepts and forgets."""

import time
from pathlib import Path

import pytest

from helpline_devstack._proc import free_ports
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.stack import Stack
from helpline_devstack.testing import (
    TicketLoad,
    TopicRecorder,
    own_keys,
    readiness,
    unique_name,
    wait_until,
)
from helpline_shared import topics
from helpline_shared.runtime.testing import stand_in_identity

pytestmark = pytest.mark.integration

DOWN_SECONDS = 10


def test_a_database_restart_under_load_loses_nothing_and_services_recover(
    kafka: KafkaNode, topic_prefix: str, tmp_path: Path
) -> None:
    database_port, intake_port, escalation_port = free_ports(3)
    database = PostgresServer(tmp_path / "postgres", port=database_port)
    database.start()
    try:
        stem = unique_name("restart")
        stack = Stack(
            tmp_path / "stack",
            kafka.bootstrap_servers,
            ports={"intake": intake_port, "escalation": escalation_port},
            database_urls={
                name: database.create_database(f"{stem}_{name}")
                for name in ("intake", "escalation")
            },
            service_environment=own_keys(),
            environment={
                **stand_in_identity().environment(),
                "HELPLINE_TOPIC_PREFIX": topic_prefix,
                "HELPLINE_SMTP_SERVER_ENABLED": "false",
            },
        )
        intake = stack.start("intake")
        stack.start("escalation")
        with TicketLoad(intake.url, stand_in_identity().api_key("acme")) as load:
            wait_until(lambda: len(load.accepted) >= 20, 30, "tickets before the restart")
            database.stop()
            wait_until(lambda: readiness(intake.url) == 503, 30, "intake to report not ready")
            time.sleep(DOWN_SECONDS)
            database.start()
            wait_until(lambda: readiness(intake.url) == 200, 60, "intake to be ready again")
            accepted_before_end = len(load.accepted)
            wait_until(
                lambda: len(load.accepted) > accepted_before_end + 10,
                30,
                "intake to accept tickets again",
            )
        assert set(load.statuses) <= {201, 503}, f"only 201 or 503: {set(load.statuses)}"
        assert 503 in load.statuses, "requests during the restart were refused, not lost"
        tickets, sla = topic_prefix + topics.TICKETS, topic_prefix + topics.SLA
        with TopicRecorder(kafka.bootstrap_servers, [tickets, sla]) as recorder:

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
        database.stop()

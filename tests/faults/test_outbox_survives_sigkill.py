"""A change committed before a crash is published after the restart, once."""

import time
from pathlib import Path

import httpx
import pytest

from helpline_devstack._proc import free_port
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.stack import Stack
from helpline_devstack.testing import TopicRecorder, unique_name
from helpline_shared import topics
from helpline_shared.runtime.testing import stand_in_identity

pytestmark = pytest.mark.integration


def test_a_ticket_committed_before_sigkill_is_published_once_after_restart(
    kafka: KafkaNode, postgres: PostgresServer, topic_prefix: str, tmp_path: Path
) -> None:
    stack = Stack(
        tmp_path,
        kafka.bootstrap_servers,
        ports={"intake": free_port()},
        database_urls={"intake": postgres.create_database(unique_name("outbox"))},
        environment={"HELPLINE_TOPIC_PREFIX": topic_prefix, **stand_in_identity().environment()},
    )
    tickets_topic = topic_prefix + topics.TICKETS
    with TopicRecorder(kafka.bootstrap_servers, [tickets_topic]) as recorder:
        # The relay is held back so that the crash lands between commit and publish.
        intake = stack.start("intake", {"HELPLINE_RELAY_ENABLED": "false"})
        response = httpx.post(
            intake.url + "/v1/tickets",
            headers={"authorization": f"Bearer {stand_in_identity().api_key('acme')}"},
            json={
                "subject": "Crash me",
                "description": "please",
                "requester": {"email": "cy@example.org"},
            },
        )
        assert response.status_code == 201, response.text
        ticket_id = response.json()["id"]
        stack.kill("intake")
        time.sleep(1.0)
        assert recorder.events("helpline.ticket.created.v1", ticket_id) == []

        stack.start("intake")
        created = recorder.wait_for("helpline.ticket.created.v1", ticket_id, timeout=20)
        time.sleep(2.0)  # a second publication, if there were one, would arrive by now
        assert [r.event_id for r in recorder.events("helpline.ticket.created.v1", ticket_id)] == [
            created.event_id
        ]
        stack.stop_all()

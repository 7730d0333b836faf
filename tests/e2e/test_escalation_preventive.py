"""A preventive ticket due while escalation is down is opened once, late, after the restart."""

import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from helpline_devstack._proc import free_ports
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.stack import Stack
from helpline_devstack.testing import TopicRecorder, own_keys, unique_name, wait_until
from helpline_shared import topics
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import stand_in_identity

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

CREATED = "helpline.ticket.created.v1"
EVERY_20_SECONDS = "* * * * * */20"  # croniter: a sixth field is seconds
SCHEDULE = {
    "cron": EVERY_20_SECONDS,
    "time_zone": "UTC",
    "ticket": {
        "subject": "Rotate the backup tapes",
        "description": "As agreed.",
        "requester_email": "ops@example.org",
        "tags": ["backups"],
    },
}


def occurrence_of(description: str) -> str:
    """The occurrence a preventive ticket's description names."""
    return description.split("occurrence: ")[1].split(" ")[0]


def test_an_occurrence_missed_during_downtime_is_created_once_and_marked_late(
    kafka: KafkaNode, postgres: PostgresServer, topic_prefix: str, tmp_path: Path
) -> None:
    ports = dict(zip(("intake", "escalation"), free_ports(2), strict=True))
    stack = Stack(
        tmp_path,
        kafka.bootstrap_servers,
        ports=ports,
        database_urls={name: postgres.create_database(unique_name(name)) for name in ports},
        service_environment=own_keys(),
        environment={
            "HELPLINE_TOPIC_PREFIX": topic_prefix,
            **stand_in_identity().environment(),
            "HELPLINE_INTAKE_URL": f"http://127.0.0.1:{ports['intake']}",
            "HELPLINE_PREVENTIVE_LATE_AFTER": "1",
            "HELPLINE_PREVENTIVE_MIN_INTERVAL": "1",
        },
    )
    tenant = unique_name("acme")
    admin = {"authorization": f"Bearer {stand_in_identity().api_key(tenant)}"}
    with TopicRecorder(kafka.bootstrap_servers, [topic_prefix + topics.TICKETS]) as recorder:
        stack.start("intake")
        escalation = stack.start("escalation")
        while True:  # leave a few seconds to kill escalation before the occurrence is due
            response = httpx.put(
                escalation.url + "/v1/preventive-schedules/tapes", json=SCHEDULE, headers=admin
            )
            assert response.status_code == 200, response.text
            due = datetime.fromisoformat(response.json()["next_occurrence_at"])
            if (due - utcnow()).total_seconds() > 4:
                break
            time.sleep(max((due - utcnow()).total_seconds(), 0) + 0.5)
        stack.kill("escalation")
        time.sleep(max((due - utcnow()).total_seconds(), 0) + 3)
        stack.start("escalation")

        def preventive_tickets() -> list[dict[str, object]]:
            return [
                record.data()
                for record in recorder.events(CREATED)
                if record.data()["tenant_id"] == tenant
            ]

        missed = wait_until(
            lambda: [
                t
                for t in preventive_tickets()
                if occurrence_of(str(t["description"])) == due.isoformat()
            ],
            60,
            "the missed occurrence's ticket",
        )
        time.sleep(3)  # a second ticket for it, if there were one, would be here by now
        per_occurrence = Counter(occurrence_of(str(t["description"])) for t in preventive_tickets())
        assert per_occurrence[due.isoformat()] == 1
        assert set(per_occurrence.values()) == {1}
        assert "late-preventive" in missed[0]["tags"]  # type: ignore[operator]
        assert missed[0]["type"] == "preventive"
        stack.stop_all()

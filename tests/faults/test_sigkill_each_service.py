"""Each of the four services SIGKILLed in turn under one steady load, and restarted: every accepted
ticket is assigned once, has one SLA clock, and each webhook and email has one id; nothing is lost.
"""

import json
import re
import time
from collections import defaultdict
from email import message_from_bytes
from pathlib import Path

import httpx
import pytest

from helpline_devstack._proc import free_ports
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.mailsink import MailSink
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.stack import SERVICE_PORTS, Stack
from helpline_devstack.testing import (
    TicketLoad,
    TopicRecorder,
    WebhookReceiver,
    own_keys,
    unique_name,
    wait_until,
)
from helpline_shared import topics
from helpline_shared.runtime.testing import stand_in_identity
from helpline_shared.ticket_token import ticket_token

pytestmark = pytest.mark.integration

CREATED = "helpline.ticket.created.v1"
ASSIGNED = "helpline.ticket.assigned.v1"
CLOCK_STARTED = "helpline.sla.clock_started.v1"
HOOKED = (CREATED, ASSIGNED, CLOCK_STARTED)
TICKETS_BETWEEN_KILLS = 8
LOAD_INTERVAL = 0.3
DRAIN_SECONDS = 90
TOKEN = re.compile(r"\[#[0-9a-zA-Z_-]+\]")


def webhook_ids(receiver: WebhookReceiver, path: str) -> dict[tuple[str, str], set[str]]:
    """The distinct ``webhook-id``s received by (event type, ticket)."""
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for call in receiver.received():
        if call.path == path:
            body = json.loads(call.body)
            found[(body["type"], body["data"]["ticket_id"])].add(call.headers["webhook-id"])
    return found


def email_ids(mail: MailSink) -> dict[tuple[str, str], set[str]]:
    """The distinct Message-IDs received by (recipient, ticket token in the subject)."""
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for path in mail.messages():
        message = message_from_bytes(path.read_bytes())
        token = TOKEN.search(str(message["Subject"]))
        found[(str(message["To"]), token.group() if token else "")].add(str(message["Message-ID"]))
    return found


def test_each_service_killed_in_turn_under_load_loses_and_doubles_nothing(
    kafka: KafkaNode, postgres: PostgresServer, topic_prefix: str, tmp_path: Path
) -> None:
    stem = unique_name("kill_each")
    tenant = unique_name("kill")
    token = stand_in_identity().api_key(tenant)
    headers = {"authorization": f"Bearer {token}"}
    hook_path = f"/hooks/{tenant}"
    sink_port, *service_ports = free_ports(1 + len(SERVICE_PORTS))
    mail = MailSink(tmp_path / "mail", port=sink_port)
    mail.start()
    stack = Stack(
        tmp_path / "stack",
        kafka.bootstrap_servers,
        ports=dict(zip(SERVICE_PORTS, service_ports, strict=True)),
        database_urls={name: postgres.create_database(f"{stem}_{name}") for name in SERVICE_PORTS},
        service_environment=own_keys(),
        environment={
            "HELPLINE_TOPIC_PREFIX": topic_prefix,
            **stand_in_identity().environment(),
            "HELPLINE_SMTP_PORT": str(mail.port),
            "HELPLINE_SMTP_SERVER_ENABLED": "false",
            "HELPLINE_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
            # Every ticket has the same requester: the loop guard must not step in.
            "HELPLINE_RECIPIENT_RATE_CAP": "1000000",
            "HELPLINE_RELAY_POLL_INTERVAL": "0.2",
        },
    )
    public = [topic_prefix + name for name in (topics.TICKETS, topics.ROUTING, topics.SLA)]
    try:
        with (
            WebhookReceiver() as webhooks,
            TopicRecorder(kafka.bootstrap_servers, public) as recorder,
        ):
            for name in SERVICE_PORTS:
                stack.start(name)
            for index in range(3):
                response = httpx.post(
                    stack.running["routing"].url + "/v1/agents",
                    headers=headers,
                    json={
                        "name": f"Agent {index}",
                        "email": f"agent{index}@{tenant}.example.com",
                        "capacity": {"api": 1000, "email": 1000},
                        "presence": "available",
                    },
                )
                assert response.status_code == 201, response.text
            response = httpx.post(
                stack.running["notify"].url + "/v1/webhook-endpoints",
                headers=headers,
                json={"url": webhooks.url + hook_path, "event_types": list(HOOKED)},
            )
            assert response.status_code == 201, response.text

            with TicketLoad(stack.running["intake"].url, token, LOAD_INTERVAL) as load:
                # Notify first: what it was sending when killed is retried once the lease of
                # those deliveries (60 s at least) runs out, while the others are being killed.
                for name in ("notify", "intake", "routing", "escalation"):
                    wait_until(
                        load.more_accepted(TICKETS_BETWEEN_KILLS), 60, f"load before killing {name}"
                    )
                    stack.kill(name)
                    time.sleep(1.0)
                    stack.start(name)
                wait_until(
                    load.more_accepted(TICKETS_BETWEEN_KILLS), 60, "load after the last restart"
                )
            accepted = set(load.accepted)
            load_stopped = time.monotonic()

            def missing() -> dict[str, int]:
                assigned = {
                    (r.key or b"").decode(): r.data()["agent_email"]
                    for r in recorder.events(ASSIGNED)
                }
                clocks = recorder.ids_by_ticket(CLOCK_STARTED)
                hooks = webhook_ids(webhooks, hook_path)
                mails = email_ids(mail)
                gaps = {
                    "assignment": len(accepted - set(assigned)),
                    "clock": len(accepted - set(clocks)),
                    "acknowledgement email": sum(
                        ("cy@example.org", ticket_token(t)) not in mails for t in accepted
                    ),
                    "assignment email": sum(
                        (assigned[t], ticket_token(t)) not in mails
                        for t in accepted & set(assigned)
                    ),
                }
                gaps.update(
                    {
                        f"webhook {kind}": sum((kind, t) not in hooks for t in accepted)
                        for kind in HOOKED
                    }
                )
                return {what: count for what, count in gaps.items() if count}

            def drained() -> bool:
                time.sleep(0.5)  # reading every mail is not free: look twice a second
                return not missing()

            try:
                wait_until(drained, DRAIN_SECONDS, "the backlog to drain")
            except AssertionError as error:
                raise AssertionError(
                    f"{error}; of {len(accepted)} tickets, missing: {missing()}"
                ) from None
            drain_seconds = time.monotonic() - load_stopped
            time.sleep(3.0)  # a second publication or delivery, if there were one, arrives by now

            for event_type in (CREATED, ASSIGNED, CLOCK_STARTED):
                doubled = {
                    ticket: ids
                    for ticket, ids in recorder.ids_by_ticket(event_type).items()
                    if len(ids) != 1
                }
                assert doubled == {}, f"{event_type} under more than one id: {doubled}"
            agents = httpx.get(stack.running["routing"].url + "/v1/agents", headers=headers)
            carried = sum(agent["load"]["api"] for agent in agents.json())
            assert carried == len(recorder.ids_by_ticket(ASSIGNED)), (
                "the agents' load counts each assigned ticket once"
            )
            doubled_hooks = {
                key: ids for key, ids in webhook_ids(webhooks, hook_path).items() if len(ids) != 1
            }
            assert doubled_hooks == {}, f"webhooks under more than one id: {doubled_hooks}"
            doubled_mails = {key: ids for key, ids in email_ids(mail).items() if len(ids) != 1}
            assert doubled_mails == {}, f"emails under more than one Message-ID: {doubled_mails}"
        assert set(load.statuses) <= {0, 201, 503}, f"unexpected statuses {set(load.statuses)}"
        assert drain_seconds < DRAIN_SECONDS
    finally:
        stack.stop_all()
        mail.stop()

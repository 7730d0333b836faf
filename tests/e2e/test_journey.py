"""One ticket's journey through the four services, each a separate OS process.

Real Kafka broker, real PostgreSQL, a real SMTP sink, a real webhook receiver and a real OTLP
receiver: what the test observes is what a deployment would do.
"""

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event
from standardwebhooks import Webhook

from helpline_devstack._proc import free_ports
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.mailsink import MailSink
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.stack import SERVICE_PORTS, Stack
from helpline_devstack.testing import (
    OtlpReceiver,
    Record,
    RunningServices,
    TopicRecorder,
    WebhookReceiver,
    own_keys,
    unique_name,
    wait_until,
)
from helpline_shared import topics
from helpline_shared.envelope import to_record
from helpline_shared.events import TicketStatusChanged
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import stand_in_identity
from helpline_shared.topics import PARTITIONS, all_topics

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

BREACH_AFTER_SECONDS = 4
CREATED = "helpline.ticket.created.v1"
ASSIGNED = "helpline.ticket.assigned.v1"
CLOCK_STARTED = "helpline.sla.clock_started.v1"
CLOCK_STOPPED = "helpline.sla.clock_stopped.v1"
BREACHED = "helpline.sla.breached.v1"


@dataclass
class Journey(RunningServices):
    """The running deployment and the instruments watching it."""

    stack: Stack
    prefix: str
    kafka: KafkaNode
    events: TopicRecorder
    traces: OtlpReceiver
    webhooks: WebhookReceiver
    mail: MailSink


@pytest.fixture(scope="module")
def journey(
    kafka: KafkaNode, postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Journey]:
    """Helpline's four services on their own topics and databases, with instruments attached."""
    prefix = unique_name("e2e") + "."
    kafka.create_topics([prefix + topic for topic in all_topics()], PARTITIONS)
    home = tmp_path_factory.mktemp("journey")
    database = prefix.rstrip(".")
    with OtlpReceiver() as traces, WebhookReceiver() as webhooks:
        sink_port, *service_ports = free_ports(1 + len(SERVICE_PORTS))
        mail = MailSink(home / "mail", port=sink_port)
        mail.start()
        stack = Stack(
            home,
            kafka.bootstrap_servers,
            ports=dict(zip(SERVICE_PORTS, service_ports, strict=True)),
            database_urls={
                name: postgres.create_database(f"{database}_{name}") for name in SERVICE_PORTS
            },
            service_environment=own_keys(),
            environment={
                "HELPLINE_TOPIC_PREFIX": prefix,
                **stand_in_identity().environment(),
                "HELPLINE_SMTP_PORT": str(mail.port),
                "HELPLINE_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
                "HELPLINE_FIRST_RESPONSE_TARGETS": json.dumps(
                    dict.fromkeys(("low", "normal", "high", "urgent"), BREACH_AFTER_SECONDS)
                ),
                "HELPLINE_RELAY_POLL_INTERVAL": "0.2",
                "OTEL_EXPORTER_OTLP_ENDPOINT": traces.url,
                "OTEL_BSP_SCHEDULE_DELAY": "200",
            },
        )
        recorder = TopicRecorder(kafka.bootstrap_servers, [prefix + t for t in all_topics()])
        try:
            for name in SERVICE_PORTS:
                stack.start(name)
            with recorder:
                yield Journey(stack, prefix, kafka, recorder, traces, webhooks, mail)
        finally:
            stack.stop_all()
            mail.stop()


def _agent(journey: Journey, tenant: str, skill: str, capacity: int = 5) -> dict[str, Any]:
    with journey.client(tenant) as client:
        response = client.post(
            journey.url("routing") + "/v1/agents",
            json={
                "name": "Ada Lovelace",
                "email": f"ada@{tenant}.example.com",
                "skills": {skill: 7},
                "capacity": {"api": capacity, "email": capacity},
            },
        )
        assert response.status_code == 201, response.text
        agent: dict[str, Any] = response.json()
        response = client.put(
            journey.url("routing") + f"/v1/agents/{agent['id']}/presence",
            json={"status": "available"},
        )
        assert response.status_code == 200, response.text
        return agent


def _ticket(journey: Journey, tenant: str, skill: str) -> dict[str, Any]:
    with journey.client(tenant) as client:
        response = client.post(
            journey.url("intake") + "/v1/tickets",
            json={
                "subject": "Nightly export fails",
                "description": "Since the upgrade to 4.2",
                "requester": {"email": "customer@example.org", "name": "Cy Customer"},
                "priority": "high",
                "type": "corrective",
                "tags": [skill],
            },
        )
        assert response.status_code == 201, response.text
        ticket: dict[str, Any] = response.json()
        return ticket


def _webhook_endpoint(journey: Journey, tenant: str) -> dict[str, Any]:
    with journey.client(tenant) as client:
        response = client.post(
            journey.url("notify") + "/v1/webhook-endpoints",
            json={
                "url": journey.webhooks.url + f"/hooks/{tenant}",
                "event_types": ["*"],
            },
        )
        assert response.status_code == 201, response.text
        endpoint: dict[str, Any] = response.json()
        return endpoint


def _trace_id(record: Record) -> str:
    traceparent = record.headers["traceparent"].decode()
    return traceparent.split("-")[1]


def test_ticket_is_assigned_breached_notified_and_traced_as_one_journey(journey: Journey) -> None:
    tenant = unique_name("acme")
    agent = _agent(journey, tenant, "exports")
    endpoint = _webhook_endpoint(journey, tenant)
    started = time.monotonic()
    ticket = _ticket(journey, tenant, "exports")

    with journey.client(tenant) as client:

        def assigned() -> dict[str, Any] | None:
            shown: dict[str, Any] = client.get(
                journey.url("intake") + f"/v1/tickets/{ticket['id']}"
            ).json()
            return shown if shown["assignee"] == agent["id"] else None

        shown = wait_until(assigned, 5, "the assignee to show on the ticket")
        assert time.monotonic() - started < 5
        assert shown["status"] == "open"

        breach = journey.events.wait_for(BREACHED, ticket["id"], timeout=BREACH_AFTER_SECONDS + 10)
        assert breach.data()["metric"] == "first_response"
        wait_until(
            lambda: (
                client.get(journey.url("intake") + f"/v1/tickets/{ticket['id']}")
                .json()["sla"]
                .get("first_response", {})
                .get("state")
                == "breached"
            ),
            10,
            "the breach to show on the ticket",
        )

    # Webhooks: one per event, each verified by the Standard Webhooks library.
    verifier = Webhook(endpoint["secret"])

    def webhook_types() -> set[str] | None:
        calls = [c for c in journey.webhooks.received() if c.path == f"/hooks/{tenant}"]
        types = {verifier.verify(c.body, c.headers)["type"] for c in calls}
        return types if {ASSIGNED, BREACHED} <= types else None

    wait_until(webhook_types, 20, "signed webhooks for the assignment and the breach")

    # Email: the agent is told of the assignment through SMTP.
    def mail_to_agent() -> list[Path]:
        return [
            path
            for path in journey.mail.messages()
            if agent["email"] in str(message_from_bytes(path.read_bytes())["To"])
        ]

    message = message_from_bytes(
        wait_until(mail_to_agent, 20, "email to the agent")[0].read_bytes()
    )
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"]

    # One trace: intake's HTTP request is the root; every service joins it.
    trace_id = _trace_id(journey.events.wait_for(CREATED, ticket["id"]))
    assert _trace_id(journey.events.wait_for(ASSIGNED, ticket["id"])) == trace_id
    assert _trace_id(breach) == trace_id

    def services_in_trace() -> set[str] | None:
        services = {span.service for span in journey.traces.traces(trace_id)}
        wanted = {f"helpline-{name}" for name in SERVICE_PORTS}
        return services if wanted <= services else None

    wait_until(services_in_trace, 20, "spans of all four services in the ticket's trace")
    spans = journey.traces.traces(trace_id)
    roots = [span for span in spans if not span.parent_span_id]
    assert [root.service for root in roots] == ["helpline-intake"]
    assert any(
        span.service == "helpline-notify" and span.name.startswith("POST") for span in spans
    ), "the outbound webhook call is part of the trace"


def test_agent_reply_in_time_stops_the_clock_without_breach(journey: Journey) -> None:
    tenant = unique_name("globex")
    _agent(journey, tenant, "billing")
    ticket = _ticket(journey, tenant, "billing")
    with journey.client(tenant) as client:
        response = client.post(
            journey.url("intake") + f"/v1/tickets/{ticket['id']}/messages",
            json={"body": "We are on it.", "public": True},
        )
        assert response.status_code == 201, response.text

    stopped = journey.events.wait_for(CLOCK_STOPPED, ticket["id"], timeout=BREACH_AFTER_SECONDS)
    assert stopped.data()["breached"] is False
    time.sleep(BREACH_AFTER_SECONDS + 2)
    assert journey.events.events(BREACHED, ticket["id"]) == []


def test_every_event_on_every_topic_is_a_cloudevent(journey: Journey) -> None:
    tenant = unique_name("initech")
    _agent(journey, tenant, "network")
    ticket = _ticket(journey, tenant, "network")
    journey.events.wait_for(ASSIGNED, ticket["id"])
    journey.events.wait_for(CLOCK_STARTED, ticket["id"])
    public = {journey.topic(topic) for topic in topics.PUBLIC_TOPICS}
    records = [record for record in journey.events.records() if record.topic in public]
    assert {record.topic for record in records} >= {
        journey.topic(topics.TICKETS),
        journey.topic(topics.ROUTING),
        journey.topic(topics.SLA),
    }
    for record in records:
        event = from_binary_event(
            KafkaMessage(headers=record.headers, key=record.key, value=record.value or b"")
        )
        assert event.get_specversion() == "1.0"
        assert event.get_id() == record.event_id
        assert event.get_type() == record.event_type
        assert event.get_source().startswith("/helpline/")
        assert event.get_subject() == (record.key or b"").decode()
        assert event.get_data() == record.data()


async def _produce(
    journey: Journey, topic: str, records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]
) -> list[int]:
    producer = AIOKafkaProducer(bootstrap_servers=journey.kafka.bootstrap_servers)
    await producer.start()
    try:
        offsets = []
        for key, value, headers in records:
            metadata = await producer.send_and_wait(topic, value=value, key=key, headers=headers)
            offsets.append(metadata.offset)
        return offsets
    finally:
        await producer.stop()


async def _committed(journey: Journey, group: str, partition: TopicPartition) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=journey.kafka.bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=[partition])
        found = offsets.get(partition)
        return found.offset if found else -1
    finally:
        await admin.close()


def _wait_consumed(journey: Journey, partition: TopicPartition, offset: int) -> None:
    for service in ("routing", "escalation", "notify"):
        wait_until(
            lambda service=service: (
                asyncio.run(  # type: ignore[misc]
                    _committed(journey, f"helpline-{service}", partition)
                )
                > offset
            ),
            20,
            f"{service} to commit past offset {offset}",
        )


def test_the_same_event_delivered_twice_changes_nothing_the_second_time(journey: Journey) -> None:
    tenant = unique_name("umbrella")
    agent = _agent(journey, tenant, "storage")
    endpoint_calls_before = len(journey.webhooks.received())
    ticket = _ticket(journey, tenant, "storage")
    original = journey.events.wait_for(CREATED, ticket["id"])
    journey.events.wait_for(ASSIGNED, ticket["id"])
    journey.events.wait_for(CLOCK_STARTED, ticket["id"])

    [offset] = asyncio.run(
        _produce(
            journey,
            original.topic,
            [(original.key or b"", original.value or b"", list(original.headers.items()))],
        )
    )
    _wait_consumed(journey, TopicPartition(original.topic, original.partition), offset)

    assert len(journey.events.events(ASSIGNED, ticket["id"])) == 1
    assert len(journey.events.events(CLOCK_STARTED, ticket["id"])) == 1
    with journey.client(tenant) as client:
        shown = client.get(journey.url("routing") + f"/v1/agents/{agent['id']}").json()
    assert shown["load"]["api"] == 1
    assert len(journey.webhooks.received()) == endpoint_calls_before


def test_poison_messages_go_to_the_dead_letter_topic_and_the_partition_moves_on(
    journey: Journey,
) -> None:
    tenant = unique_name("hooli")
    valid = _ticket(journey, tenant, "poison")
    original = journey.events.wait_for(CREATED, valid["id"])
    headers = list(original.headers.items())
    without_ce = [(name, value) for name, value in headers if not name.startswith("ce_")]
    invalid_data = json.dumps({**original.data(), "priority": "whenever"}).encode()
    poison = [
        (
            original.key or b"",
            b"\x00\xffnot json",
            [(n, v if n != "ce_id" else b"p1") for n, v in headers],
        ),
        (original.key or b"", original.value or b"", without_ce),
        (
            original.key or b"",
            invalid_data,
            [(n, v if n != "ce_id" else b"p3") for n, v in headers],
        ),
    ]
    # A healthy event after the poison, on the same partition (same key): the ticket is solved.
    solved = to_record(
        TicketStatusChanged(
            tenant_id=tenant,
            ticket_id=valid["id"],
            occurred_at=utcnow(),
            previous_status="new",
            status="solved",
        ),
        source="/tests/e2e",
    )
    offsets = asyncio.run(
        _produce(
            journey, original.topic, [*poison, (solved.key, solved.value, list(solved.headers))]
        )
    )

    stopped = journey.events.wait_for(CLOCK_STOPPED, valid["id"])
    assert stopped.data()["reason"]
    dead = journey.topic(topics.dead_letter_topic(topics.TICKETS))
    poisoned = {str(offset) for offset in offsets[:3]}

    def dead_letters() -> list[Record] | None:
        letters = [
            r
            for r in journey.events.records(dead)
            if r.headers.get("helpline-dlq-offset", b"").decode() in poisoned
            and r.headers.get("helpline-dlq-group") == b"helpline-escalation"
        ]
        return letters if len(letters) == 3 else None

    letters = wait_until(dead_letters, 20, "the three poison records in the dead-letter topic")
    errors = {r.headers["helpline-dlq-error-type"].decode() for r in letters}
    assert errors == {"InvalidEventData", "NotACloudEvent"}
    assert all(r.headers["helpline-dlq-topic"].decode() == original.topic for r in letters)
    assert all(r.headers["helpline-dlq-error"] for r in letters)


def test_a_tenant_cannot_see_or_change_another_tenants_tickets_or_agents(journey: Journey) -> None:
    owner, intruder = unique_name("owner"), unique_name("intruder")
    agent = _agent(journey, owner, "secrets")
    ticket = _ticket(journey, owner, "secrets")
    intake, routing = journey.url("intake"), journey.url("routing")
    escalation = journey.url("escalation")
    with journey.client(intruder) as client:
        assert client.get(f"{intake}/v1/tickets/{ticket['id']}").status_code == 404
        assert client.get(f"{intake}/v1/tickets/{ticket['id']}/messages").status_code == 404
        assert (
            client.post(
                f"{intake}/v1/tickets/{ticket['id']}/messages", json={"body": "mine now"}
            ).status_code
            == 404
        )
        assert ticket["id"] not in {
            t["id"] for t in client.get(f"{intake}/v1/tickets").json()["items"]
        }
        assert client.get(f"{routing}/v1/agents/{agent['id']}").status_code == 404
        assert (
            client.put(
                f"{routing}/v1/agents/{agent['id']}/presence", json={"status": "offline"}
            ).status_code
            == 404
        )
        assert agent["id"] not in {a["id"] for a in client.get(f"{routing}/v1/agents").json()}
        assert client.get(f"{escalation}/v1/tickets/{ticket['id']}/sla").status_code == 404
        problem = client.get(f"{intake}/v1/tickets/{ticket['id']}")
        assert problem.headers["content-type"] == "application/problem+json"
    with journey.client(owner) as client:
        assert client.get(f"{intake}/v1/tickets/{ticket['id']}").status_code == 200
        assert client.get(f"{routing}/v1/agents/{agent['id']}").json()["presence"] == "available"
    with httpx.Client() as anonymous:
        assert anonymous.get(f"{intake}/v1/tickets/{ticket['id']}").status_code == 401

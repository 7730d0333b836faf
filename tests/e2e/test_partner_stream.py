"""Per-tenant partner streams on the real broker, with intake, routing and notify as processes.

A partner of tenant A reads ``helpline.partner.<A>`` from offset 0 with a plain consumer and the
CloudEvents SDK: A's events with the ``ce_id`` and ``traceparent`` of the internal topics, in
order per ticket, and nothing of tenant B; a crash of notify loses nothing.
"""

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event

from helpline_devstack._proc import free_ports
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.stack import Stack
from helpline_devstack.testing import (
    Record,
    RunningServices,
    TopicRecorder,
    unique_name,
    wait_until,
)
from helpline_shared.events import AgentPresenceChanged
from helpline_shared.runtime.testing import stand_in_identity
from helpline_shared.topics import PARTITIONS, PUBLIC_TOPICS, all_topics, partner_topic

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

CREATED = "helpline.ticket.created.v1"
ASSIGNED = "helpline.ticket.assigned.v1"
PRESENCE_CHANGED = AgentPresenceChanged.event_type
SERVICES = ("intake", "routing", "notify")
PARTNER_PARTITIONS = 2
PARTNER_RETENTION_MS = 3_600_000


@dataclass
class Deployment(RunningServices):
    """Intake, routing and notify on their own topics, and a recorder of the internal topics."""

    stack: Stack
    prefix: str
    kafka: KafkaNode
    internal: TopicRecorder

    def partner_topic(self, tenant: str) -> str:
        """The prefixed partner topic of ``tenant``."""
        return self.prefix + partner_topic(tenant)


@pytest.fixture(scope="module")
def deployment(kafka: KafkaNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The services that make tickets, assign them and forward them to partners."""
    prefix = unique_name("partner") + "."
    kafka.create_topics([prefix + topic for topic in all_topics()], PARTITIONS)
    smtp_port, *service_ports = free_ports(1 + len(SERVICES))
    stack = Stack(
        tmp_path_factory.mktemp("partner-stream"),
        kafka.bootstrap_servers,
        ports=dict(zip(SERVICES, service_ports, strict=True)),
        environment={
            "HELPLINE_TOPIC_PREFIX": prefix,
            **stand_in_identity().environment(),
            "HELPLINE_RELAY_POLL_INTERVAL": "0.2",
            "HELPLINE_SMTP_PORT": str(smtp_port),  # nobody listens: mail is not this test's
            "HELPLINE_PARTNER_STREAM_PARTITIONS": str(PARTNER_PARTITIONS),
            "HELPLINE_PARTNER_STREAM_RETENTION_MS": str(PARTNER_RETENTION_MS),
        },
    )
    recorder = TopicRecorder(kafka.bootstrap_servers, [prefix + t for t in PUBLIC_TOPICS])
    try:
        for name in SERVICES:
            stack.start(name)
        with recorder:
            yield Deployment(stack, prefix, kafka, recorder)
    finally:
        stack.stop_all()


def assigned_ticket(deployment: Deployment, tenant: str) -> str:
    """A ticket of ``tenant`` that routing assigns at once; its id."""
    with deployment.client(tenant) as client:
        response = client.post(
            deployment.url("routing") + "/v1/agents",
            json={
                "name": "Ada Lovelace",
                "email": f"ada@{tenant}.example.com",
                "skills": {"exports": 7},
                "capacity": {"api": 5, "email": 5},
            },
        )
        assert response.status_code == 201, response.text
        agent = response.json()["id"]
        response = client.put(
            deployment.url("routing") + f"/v1/agents/{agent}/presence", json={"status": "available"}
        )
        assert response.status_code == 200, response.text
        response = client.post(
            deployment.url("intake") + "/v1/tickets",
            json={
                "subject": "Nightly export fails",
                "description": "Since the upgrade to 4.2",
                "requester": {"email": "customer@example.org"},
                "priority": "high",
                "type": "corrective",
                "tags": ["exports"],
            },
        )
        assert response.status_code == 201, response.text
        ticket: str = response.json()["id"]
    deployment.internal.wait_for(ASSIGNED, ticket, timeout=20)
    return ticket


def internal_events(deployment: Deployment, tenant: str) -> dict[str, Record]:
    """Every event of ``tenant`` on the internal topics, by ``ce_id``."""
    return {
        record.event_id: record
        for record in deployment.internal.records()
        if record.headers.get("ce_tenantid") == tenant.encode()
    }


def topic_exists(deployment: Deployment, topic: str) -> bool:
    """Whether the broker has ``topic``."""

    async def listed() -> list[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=deployment.kafka.bootstrap_servers)
        await admin.start()
        try:
            return await admin.list_topics()
        finally:
            await admin.close()

    return topic in asyncio.run(listed())


def retention_of(deployment: Deployment, topic: str) -> str:
    """The ``retention.ms`` the broker keeps for ``topic``."""

    async def described() -> Any:
        admin = AIOKafkaAdminClient(bootstrap_servers=deployment.kafka.bootstrap_servers)
        await admin.start()
        try:
            return await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic, {"retention.ms": None})]
            )
        finally:
            await admin.close()

    response = asyncio.run(described())[0].to_object()
    entries = response["resources"][0]["config_entries"]
    # The entry's name field is "config_names" in version 0 of the response, "config_name" later.
    return str(
        next(
            e["config_value"]
            for e in entries
            if e.get("config_name", e.get("config_names")) == "retention.ms"
        )
    )


def cloud_event(record: Record) -> Any:
    """What a partner's CloudEvents SDK makes of ``record``."""
    assert record.value is not None
    return from_binary_event(
        KafkaMessage(headers=record.headers, key=record.key, value=record.value)
    )


def test_a_partner_reads_its_tenants_events_with_their_ids_and_trace_and_nothing_else(
    deployment: Deployment,
) -> None:
    tenant_a, tenant_b = unique_name("acme"), unique_name("globex")
    ticket_a = assigned_ticket(deployment, tenant_a)
    ticket_b = assigned_ticket(deployment, tenant_b)
    stream_a, stream_b = deployment.partner_topic(tenant_a), deployment.partner_topic(tenant_b)
    wait_until(
        lambda: topic_exists(deployment, stream_a) and topic_exists(deployment, stream_b),
        20,
        "both partner topics",
    )

    with TopicRecorder(deployment.kafka.bootstrap_servers, [stream_a, stream_b]) as partner:

        def both_of_a() -> list[Record] | None:
            records = partner.records(stream_a)
            types = {r.event_type for r in records if r.key == ticket_a.encode()}
            return records if {CREATED, ASSIGNED} <= types else None

        read_a = wait_until(both_of_a, 20, "ticket.created and ticket.assigned of tenant A")
        wait_until(
            lambda: {r.event_type for r in partner.records(stream_b)} >= {CREATED, ASSIGNED},
            20,
            "tenant B's stream",
        )
        read_b = partner.records(stream_b)

    internal_a = internal_events(deployment, tenant_a)
    for record in read_a:
        event = cloud_event(record)
        assert event.get_data()["tenant_id"] == tenant_a
        assert event.get_extension("tenantid") == tenant_a
        source = internal_a[event.get_id()]  # the same ce_id as on the internal topic
        assert (record.key, record.value, record.headers) == (
            source.key,
            source.value,
            source.headers,
        )
        assert record.headers["traceparent"] == source.headers["traceparent"]
    # The agent going available is keyed by the agent (it is about no ticket).
    tickets_a = [r for r in read_a if r.event_type != PRESENCE_CHANGED]
    tickets_b = [r for r in read_b if r.event_type != PRESENCE_CHANGED]
    assert {r.key for r in tickets_a} == {ticket_a.encode()}, "nothing of tenant B"
    assert {r.key for r in tickets_b} == {ticket_b.encode()}, "nothing of tenant A"

    of_ticket = [r for r in read_a if r.event_type in (CREATED, ASSIGNED)]
    assert len({r.partition for r in of_ticket}) == 1, "one ticket, one partition"
    assert min(r.offset for r in read_a if r.partition == of_ticket[0].partition) == 0
    offsets = {r.event_type: r.offset for r in of_ticket}
    assert offsets[CREATED] < offsets[ASSIGNED], "in the order they happened"

    assert len({r.partition for r in tickets_a} | {r.partition for r in tickets_b}) <= 2
    assert retention_of(deployment, stream_a) == str(PARTNER_RETENTION_MS)


def test_events_published_while_notify_is_down_reach_the_partner_after_its_restart(
    deployment: Deployment,
) -> None:
    tenant = unique_name("initech")
    first = assigned_ticket(deployment, tenant)
    stream = deployment.partner_topic(tenant)
    wait_until(lambda: topic_exists(deployment, stream), 20, "the partner topic")

    deployment.stack.kill("notify")  # a crash: nothing is flushed or committed on the way out
    second = assigned_ticket(deployment, tenant)
    deployment.stack.start("notify")

    with TopicRecorder(deployment.kafka.bootstrap_servers, [stream]) as partner:

        def everything() -> set[str] | None:
            internal = set(internal_events(deployment, tenant))
            forwarded = {r.event_id for r in partner.records(stream)}
            return forwarded if internal <= forwarded else None

        wait_until(everything, 30, "every event of the tenant on its partner stream")
        read = partner.records(stream)

    assert {r.key for r in read if r.event_type != PRESENCE_CHANGED} == {
        first.encode(),
        second.encode(),
    }
    internal = internal_events(deployment, tenant)
    for record in read:  # a redelivered record is a duplicate with the same ce_id
        assert record.value == internal[record.event_id].value

"""Helpline on a broker that takes only SASL_SSL and enforces ACLs: the grants of
``helpline_shared.kafka_acls`` are enough for the four services and for partners, and no more.

One SCRAM user per service, each service a separate OS process; partners are created with the
``helpline partners`` command and read with librdkafka (confluent-kafka) from its properties file.
"""

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
from click.testing import Result
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event
from confluent_kafka import Consumer, KafkaError, Producer
from typer.testing import CliRunner

from helpline_cli.app import app
from helpline_devstack._proc import free_ports
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.mailsink import MailSink
from helpline_devstack.stack import SERVICE_PORTS, Stack
from helpline_devstack.testing import (
    RunningServices,
    TopicRecorder,
    own_keys,
    unique_name,
    wait_until,
)
from helpline_shared import topics
from helpline_shared.envelope import to_record
from helpline_shared.events import TicketStatusChanged
from helpline_shared.kafka_acls import service_acls, service_user
from helpline_shared.kafka_security import (
    KafkaSecurity,
    aiokafka_options,
    environment_variables,
    librdkafka_config,
)
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import stand_in_identity
from helpline_shared.topics import PARTITIONS, all_topics, partner_topic

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ASSIGNED = "helpline.ticket.assigned.v1"
QUEUED = "helpline.ticket.queued.v1"
CLOCK_STARTED = "helpline.sla.clock_started.v1"
DELIVERED = "helpline.notification.delivered.v1"


@dataclass
class Deployment(RunningServices):
    """The four services on the secure broker, each as its own Kafka user."""

    kafka: KafkaNode
    stack: Stack
    prefix: str
    clients: dict[str, KafkaSecurity]
    events: TopicRecorder
    mail: MailSink


@pytest.fixture(scope="module")
def deployment(
    secure_kafka: KafkaNode, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """Helpline on its own topics of the secure broker, every service with its own user."""
    prefix = unique_name("sec") + "."
    secure_kafka.create_topics([prefix + topic for topic in all_topics()], PARTITIONS)
    clients = secure_kafka.provision_services(topic_prefix=prefix)
    home = tmp_path_factory.mktemp("secure")
    sink_port, *service_ports = free_ports(1 + len(SERVICE_PORTS))
    mail = MailSink(home / "mail", port=sink_port)
    mail.start()
    stack = Stack(
        home,
        secure_kafka.bootstrap_servers,
        ports=dict(zip(SERVICE_PORTS, service_ports, strict=True)),
        service_environment=own_keys(),
        environment={
            "HELPLINE_TOPIC_PREFIX": prefix,
            **stand_in_identity().environment(),
            "HELPLINE_SMTP_PORT": str(mail.port),
            "HELPLINE_SMTP_SERVER_ENABLED": "false",
            "HELPLINE_RELAY_POLL_INTERVAL": "0.2",
        },
    )
    recorder = TopicRecorder(
        secure_kafka.bootstrap_servers,
        [prefix + topic for topic in all_topics()],
        secure_kafka.admin_security,
    )
    try:
        with ThreadPoolExecutor(len(SERVICE_PORTS)) as starting:
            list(
                starting.map(
                    lambda name: stack.start(name, environment_variables(clients[name])),
                    SERVICE_PORTS,
                )
            )
        with recorder:
            yield Deployment(secure_kafka, stack, prefix, clients, recorder, mail)
    finally:
        stack.stop_all()
        mail.stop()


def _ticket(deployment: Deployment, tenant: str, tags: list[str]) -> str:
    with deployment.client(tenant) as client:
        response = client.post(
            deployment.url("intake") + "/v1/tickets",
            json={
                "subject": "VPN drops",
                "description": "Every hour on the hour",
                "requester": {"email": "customer@example.org"},
                "priority": "high",
                "type": "corrective",
                "tags": tags,
            },
        )
        assert response.status_code == 201, response.text
        ticket_id: str = response.json()["id"]
        return ticket_id


def _agent(deployment: Deployment, tenant: str, skill: str) -> dict[str, Any]:
    with deployment.client(tenant) as client:
        response = client.post(
            deployment.url("routing") + "/v1/agents",
            json={
                "name": "Grace Hopper",
                "email": f"grace@{tenant}.example.com",
                "skills": {skill: 7},
                "capacity": {"api": 5, "email": 5},
            },
        )
        assert response.status_code == 201, response.text
        agent: dict[str, Any] = response.json()
        response = client.put(
            deployment.url("routing") + f"/v1/agents/{agent['id']}/presence",
            json={"status": "available"},
        )
        assert response.status_code == 200, response.text
        return agent


def test_a_ticket_flows_through_the_four_services_each_as_its_own_user(
    deployment: Deployment,
) -> None:
    tenant = unique_name("acme")
    agent = _agent(deployment, tenant, "vpn")
    ticket = _ticket(deployment, tenant, ["vpn"])

    deployment.events.wait_for(ASSIGNED, ticket, timeout=20)  # routing read, wrote
    deployment.events.wait_for(CLOCK_STARTED, ticket, timeout=20)  # escalation
    deployment.events.wait_for(DELIVERED, ticket, timeout=30)  # notify mailed
    wait_until(
        lambda: any(
            agent["email"] in str(message_from_bytes(path.read_bytes())["To"])
            for path in deployment.mail.messages()
        ),
        30,
        "mail to the agent",
    )
    with deployment.client(tenant) as client:  # intake read routing's
        wait_until(
            lambda: (
                client.get(deployment.url("intake") + f"/v1/tickets/{ticket}").json()["assignee"]
                == agent["id"]
            ),
            10,
            "the assignee on the ticket",
        )
    dead = [r for r in deployment.events.records() if r.topic.endswith(".dlq")]
    assert dead == []


async def _list_topics(bootstrap_servers: str, security: KafkaSecurity) -> list[str]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=3000, **aiokafka_options(security)
    )
    try:
        await admin.start()
        topics_seen: list[str] = await admin.list_topics()
        return topics_seen
    finally:
        await admin.close()


@pytest.mark.parametrize(
    "security",
    [
        KafkaSecurity(),
        KafkaSecurity("SSL"),
        KafkaSecurity("SASL_PLAINTEXT", username="x", password="y"),
    ],
    ids=["plaintext", "tls-without-sasl", "sasl-without-tls"],
)
def test_a_client_without_credentials_gets_no_topic_list(
    secure_kafka: KafkaNode, security: KafkaSecurity
) -> None:
    if security.protocol == "SSL":
        security = KafkaSecurity("SSL", ca_file=secure_kafka.ca_file)
    with pytest.raises(KafkaConnectionError):
        asyncio.run(_list_topics(secure_kafka.bootstrap_servers, security))


def test_a_wrong_password_is_refused(secure_kafka: KafkaNode) -> None:
    security = secure_kafka.client_security("helpline-routing", "not-the-password")
    with pytest.raises(KafkaConnectionError):
        asyncio.run(_list_topics(secure_kafka.bootstrap_servers, security))


def _outside(service: str, prefix: str, operation: str) -> str:
    """The first Helpline topic ``service`` may not ``operation``, per the ACL table."""
    allowed = {
        acl.name
        for acl in service_acls(service, prefix)
        if acl.resource == "topic" and acl.operation == operation
    }
    return next(prefix + topic for topic in all_topics() if prefix + topic not in allowed)


async def _write(bootstrap_servers: str, security: KafkaSecurity, topic: str) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=5000, **aiokafka_options(security)
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{}", key=b"k")
    finally:
        await producer.stop()


@pytest.mark.parametrize("service", list(SERVICE_PORTS))
def test_each_service_is_denied_topics_outside_its_acls(
    deployment: Deployment, service: str
) -> None:
    security, servers = deployment.clients[service], deployment.kafka.bootstrap_servers
    assert security.username == service_user(service)
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(_write(servers, security, _outside(service, deployment.prefix, "Write")))
    # Read in its own consumer group, which it may use: the topic alone is refused.
    messages, errors = _consume(
        librdkafka_config(security, servers),
        f"helpline-{service}",
        _outside(service, deployment.prefix, "Read"),
        wanted=1,
    )
    assert messages == []
    assert [error.code() for error in errors] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]


def _cli(deployment: Deployment, security: KafkaSecurity, *args: str) -> Result:
    """Run ``helpline ARGS`` as ``security``'s user on the deployment's topics."""
    return CliRunner().invoke(
        app,
        list(args),
        env={
            **environment_variables(security),
            "HELPLINE_TOPIC_PREFIX": deployment.prefix,
            "HELPLINE_KAFKA_BOOTSTRAP_SERVERS": deployment.kafka.bootstrap_servers,
        },
    )


def _partners(deployment: Deployment, *args: str) -> Result:
    return _cli(deployment, deployment.kafka.admin_security, "partners", *args)


def _properties(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line and not line.startswith("#")
    )
    return {key: value for key, value in pairs}


def _publish_to(deployment: Deployment, topic: str, tenant: str, count: int) -> list[str]:
    """Publish ``count`` CloudEvents to ``topic`` as the admin (the republisher's stand-in)."""
    records = [
        to_record(
            TicketStatusChanged(
                tenant_id=tenant,
                ticket_id=unique_name("t"),
                occurred_at=utcnow(),
                previous_status="new",
                status="open",
            ),
            source="/helpline/notify",
        )
        for _ in range(count)
    ]

    async def send() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=deployment.kafka.bootstrap_servers,
            **aiokafka_options(deployment.kafka.admin_security),
        )
        await producer.start()
        try:
            for record in records:
                await producer.send_and_wait(
                    topic, record.value, key=record.key, headers=list(record.headers)
                )
        finally:
            await producer.stop()

    asyncio.run(send())
    return [dict(record.headers)["ce_id"].decode() for record in records]


def _consume(
    config: dict[str, str], group: str, topic: str, wanted: int, timeout: float = 20
) -> tuple[list[Any], list[KafkaError]]:
    consumer = Consumer(
        {
            **config,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": "false",
        }
    )
    consumer.subscribe([topic])
    messages: list[Any] = []
    errors: list[KafkaError] = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < wanted and not errors and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                errors.append(message.error())
            else:
                messages.append(message)
    finally:
        consumer.close()
    return messages, errors


def test_a_partner_reads_its_tenant_stream_and_nothing_else(
    deployment: Deployment, tmp_path: Path
) -> None:
    tenant, other = unique_name("tenant"), unique_name("other")
    own_topic = deployment.topic(partner_topic(tenant))
    other_topic = deployment.topic(partner_topic(other))
    deployment.kafka.create_topics([own_topic, other_topic], 1)
    ids = _publish_to(deployment, own_topic, tenant, 2)
    _publish_to(deployment, other_topic, other, 1)

    output = tmp_path / "partner.properties"
    created = _partners(deployment, "create", tenant, "acme", "--output", str(output))
    assert created.exit_code == 0, created.output
    assert output.stat().st_mode & 0o077 == 0
    config = _properties(output)
    assert set(config) == {
        "bootstrap.servers",
        "security.protocol",
        "sasl.mechanism",
        "sasl.username",
        "sasl.password",
        "ssl.ca.location",
    }
    group = f"partner.{tenant}.acme.reader"

    messages, errors = _consume(config, group, own_topic, wanted=2)
    assert errors == []
    events = [
        from_binary_event(
            KafkaMessage(
                headers={name: value for name, value in message.headers() or ()},
                key=message.key(),
                value=message.value(),
            )
        )
        for message in messages
    ]
    assert [event.get_id() for event in events] == ids
    assert {event.get_type() for event in events} == {"helpline.ticket.status_changed.v1"}

    for topic in (deployment.topic(topics.TICKETS), other_topic):
        messages, errors = _consume(config, group, topic, wanted=1)
        assert messages == []
        assert [error.code() for error in errors] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]
    _messages, errors = _consume(config, "not-its-group", own_topic, wanted=1)
    assert [error.code() for error in errors] == [KafkaError.GROUP_AUTHORIZATION_FAILED]

    reports: list[KafkaError | None] = []
    producer = Producer(config)
    producer.produce(own_topic, b"{}", on_delivery=lambda error, _message: reports.append(error))
    producer.flush(20)
    assert [error.code() if error else None for error in reports] == [
        KafkaError.TOPIC_AUTHORIZATION_FAILED
    ]

    listed = _partners(deployment, "list")
    assert (
        f"partner.{tenant}.acme: groups partner.{tenant}.acme.*, topic {own_topic}" in listed.output
    )
    revoked = _partners(deployment, "revoke", tenant, "acme")
    assert revoked.exit_code == 0, revoked.output
    assert f"partner.{tenant}.acme" not in _partners(deployment, "list").output
    messages, errors = _consume(config, group + "2", own_topic, wanted=1, timeout=8)
    assert messages == []


def test_a_rotated_service_password_loses_and_doubles_no_event(deployment: Deployment) -> None:
    tenant = unique_name("rotate")
    before = [_ticket(deployment, tenant, ["rotation"]) for _ in range(3)]
    for ticket in before:
        deployment.events.wait_for(QUEUED, ticket, timeout=20)

    rotated = deployment.clients["routing"].with_password("rotated-" + unique_name("pw"))
    deployment.kafka.access().set_password(service_user("routing"), rotated.password or "")
    # Connections made with the old password stay; new ones need the new password.
    during = [_ticket(deployment, tenant, ["rotation"]) for _ in range(3)]
    deployment.stack.stop("routing")
    while_down = [_ticket(deployment, tenant, ["rotation"]) for _ in range(3)]
    deployment.stack.start("routing", environment_variables(rotated))
    after = [_ticket(deployment, tenant, ["rotation"]) for _ in range(3)]

    for ticket in before + during + while_down + after:
        deployment.events.wait_for(QUEUED, ticket, timeout=30)
    time.sleep(1.0)  # room for a duplicate to show up
    for ticket in before + during + while_down + after:
        queued = deployment.events.events(QUEUED, ticket)
        assert len(queued) == 1, f"ticket {ticket} queued {len(queued)} times"
    with pytest.raises(KafkaConnectionError):
        asyncio.run(_list_topics(deployment.kafka.bootstrap_servers, deployment.clients["routing"]))
    deployment.clients["routing"] = rotated


def _doctor(deployment: Deployment, security: KafkaSecurity) -> list[str]:
    result = _cli(deployment, security, "doctor")
    assert result.exit_code == 1
    return [line for line in result.output.splitlines() if line.startswith("PROBLEM")]


def test_doctor_names_a_refused_login_in_one_line(deployment: Deployment) -> None:
    wrong = deployment.clients["intake"].with_password("wrong")
    assert _doctor(deployment, wrong) == [
        f"PROBLEM kafka: authentication failed: the broker at "
        f"{deployment.kafka.bootstrap_servers} refused User:helpline-intake (SCRAM-SHA-512: "
        "wrong password or no such user; HELPLINE_KAFKA_SASL_USERNAME/_PASSWORD)"
    ]


def test_doctor_names_the_principal_and_each_topic_it_may_not_see(deployment: Deployment) -> None:
    problems = _doctor(deployment, deployment.clients["escalation"])
    visible = {
        acl.name for acl in service_acls("escalation", deployment.prefix) if acl.resource == "topic"
    }
    hidden = [deployment.prefix + t for t in all_topics() if deployment.prefix + t not in visible]
    assert problems == [
        f"PROBLEM topic {topic}: User:helpline-escalation is not authorized to "
        "describe it (no ACL allows it; see the KafkaUser of this principal)"
        for topic in hidden
    ]

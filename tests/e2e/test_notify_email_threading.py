"""An agent's API reply reaches the requester by email, and the requester's answer threads back.

Intake and notify run as processes on a real broker and PostgreSQL; notify mails through an SMTP
sink; the requester's reply is handed to intake's own SMTP server. The reply's subject carries no
ticket token and its only reference is the Message-ID notify generated: it can only reach the
ticket through the headers and the ``outbound_message_id`` notify published.
"""

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtplib import send as smtp_send

from helpline_devstack._proc import free_ports
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.mailsink import MailSink
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.stack import Stack
from helpline_devstack.testing import TopicRecorder, unique_name, wait_until
from helpline_shared.runtime.testing import stand_in_identity
from helpline_shared.topics import PARTITIONS, all_topics

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

MESSAGE_ADDED = "helpline.ticket.message_added.v1"


@dataclass
class Services:
    """Intake and notify, their mail plumbing and a recorder of every topic."""

    stack: Stack
    recorder: TopicRecorder
    sink: MailSink
    intake_smtp_port: int

    def client(self, tenant: str) -> httpx.Client:
        """An HTTP client with an admin token of ``tenant``."""
        token = stand_in_identity().api_key(tenant, ("tickets:read", "tickets:write", "admin"))
        return httpx.Client(headers={"authorization": f"Bearer {token}"}, timeout=10)

    def url(self, name: str) -> str:
        """A service's base URL."""
        return self.stack.running[name].url


@pytest.fixture(scope="module")
def services(
    kafka: KafkaNode, postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Services]:
    prefix = unique_name("thread") + "."
    kafka.create_topics([prefix + topic for topic in all_topics()], PARTITIONS)
    home: Path = tmp_path_factory.mktemp("threading")
    names = ("intake", "notify")
    sink_port, intake_smtp_port, *service_ports = free_ports(2 + len(names))
    sink = MailSink(home / "mail", port=sink_port)
    sink.start()
    stack = Stack(
        home,
        kafka.bootstrap_servers,
        ports=dict(zip(names, service_ports, strict=True)),
        database_urls={
            name: postgres.create_database(f"{prefix.rstrip('.')}_{name}") for name in names
        },
        environment={
            "HELPLINE_TOPIC_PREFIX": prefix,
            **stand_in_identity().environment(),
            "HELPLINE_SMTP_PORT": str(sink.port),
            "HELPLINE_SMTP_SERVER_PORT": str(intake_smtp_port),
            "HELPLINE_DOMAIN_VERIFICATION": "trust",
            "HELPLINE_RELAY_POLL_INTERVAL": "0.2",
        },
    )
    recorder = TopicRecorder(kafka.bootstrap_servers, [prefix + t for t in all_topics()])
    try:
        for name in names:
            stack.start(name)
        with recorder:
            yield Services(stack, recorder, sink, intake_smtp_port)
    finally:
        stack.stop_all()
        sink.stop()


def mail_to(sink: MailSink, address: str, subject_part: str) -> EmailMessage | None:
    """The first mail in the sink to ``address`` whose subject contains ``subject_part``."""
    for path in sink.messages():
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        if address in str(message["To"]) and subject_part in str(message["Subject"]):
            return message
    return None


def requester_messages(services: Services, ticket_id: str) -> list[dict[str, Any]] | None:
    """The requester's messages on the ticket seen on Kafka, or None while there are none."""
    found = [
        record.data()
        for record in services.recorder.events(MESSAGE_ADDED, ticket_id)
        if record.data()["author_role"] == "requester"
    ]
    return found or None


async def test_requester_reply_to_an_emailed_agent_answer_threads_by_headers_alone(
    services: Services,
) -> None:
    tenant = unique_name("acme")
    domain_name = f"{tenant.replace('_', '-')}.example"  # a mailbox's domain is a DNS name
    mailbox, customer = f"support@{domain_name}", "frank@customer.example"
    with services.client(tenant) as client:
        domain = client.post(services.url("intake") + "/v1/domains", json={"name": domain_name})
        domain.raise_for_status()
        client.post(
            services.url("intake") + f"/v1/domains/{domain.json()['id']}/verify"
        ).raise_for_status()
        client.post(
            services.url("intake") + "/v1/mailboxes", json={"address": mailbox}
        ).raise_for_status()
        ticket = client.post(
            services.url("intake") + "/v1/tickets",
            json={
                "subject": "Scanner jams",
                "description": "Every page.",
                "requester": {"email": customer, "name": "Frank"},
            },
        )
        ticket.raise_for_status()
        ticket_id = ticket.json()["id"]
        client.post(
            services.url("intake") + f"/v1/tickets/{ticket_id}/messages",
            json={
                "body": "Please clean the rollers.",
                "public": True,  # an API key writes as an agent
            },
        ).raise_for_status()

    answer = wait_until(
        lambda: mail_to(services.sink, customer, "Re:"), 30, "the agent's answer by email"
    )
    assert f"[#{ticket_id[:8]}]" in str(answer["Subject"])
    assert answer["Auto-Submitted"] == "auto-generated"
    notified = wait_until(
        lambda: (
            [
                r
                for r in services.recorder.events("helpline.notification.delivered.v1", ticket_id)
                if r.data()["outbound_message_id"] == str(answer["Message-ID"])
            ]
            or None
        ),
        20,
        "the outbound Message-ID published",
    )
    assert notified

    reply = EmailMessage()
    reply["From"] = customer
    reply["To"] = mailbox
    reply["Subject"] = "Re: your answer"  # no ticket token: the headers must do it
    reply["Message-ID"] = f"<{unique_name('reply')}@customer.example>"
    reply["In-Reply-To"] = str(answer["Message-ID"])
    reply["References"] = str(answer["Message-ID"])
    reply.set_content("Cleaned them, works now. Thanks!")
    await asyncio.sleep(1.0)  # intake learns the outbound Message-ID from the stream too
    await smtp_send(reply, hostname="127.0.0.1", port=services.intake_smtp_port, timeout=10)

    [message] = wait_until(
        lambda: requester_messages(services, ticket_id), 30, "the requester's reply on the ticket"
    )
    assert message["channel"] == "email" and "Cleaned them" in message["body"]
    assert message["email_message_id"].strip("<>") == str(reply["Message-ID"]).strip("<>")

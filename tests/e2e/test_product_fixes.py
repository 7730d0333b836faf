"""Issue 16's product fixes as a customer meets them: intake and escalation as OS processes.

Real Kafka and PostgreSQL: a web form's mail from a no-reply address opens a ticket for the
Reply-To person, and a ticket set `pending` shows its SLA clocks paused in intake's ticket view
within seconds (escalation pauses them and intake follows ``helpline.sla``).
"""

import re
import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import httpx
import pytest

from helpline_devstack._proc import free_ports
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.stack import Stack
from helpline_devstack.testing import own_keys, unique_name, wait_until
from helpline_shared.runtime.testing import stand_in_identity
from helpline_shared.topics import PARTITIONS, all_topics

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

PAUSE_SHOWN_WITHIN = 10.0


@dataclass
class Deployment:
    """Intake (with its SMTP server) and escalation on their own topics and databases."""

    stack: Stack
    smtp_port: int

    def client(self, tenant: str) -> httpx.Client:
        """An HTTP client on intake with ``tenant``'s token."""
        return httpx.Client(
            base_url=self.stack.running["intake"].url,
            timeout=10,
            headers={"authorization": f"Bearer {stand_in_identity().api_key(tenant)}"},
        )


@pytest.fixture(scope="module")
def deployment(
    kafka: KafkaNode, postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    prefix = unique_name("fixes") + "."
    kafka.create_topics([prefix + topic for topic in all_topics()], PARTITIONS)
    names = ("intake", "escalation")
    smtp_port, *service_ports = free_ports(1 + len(names))
    stack = Stack(
        tmp_path_factory.mktemp("fixes"),
        kafka.bootstrap_servers,
        ports=dict(zip(names, service_ports, strict=True)),
        database_urls={
            name: postgres.create_database(f"{prefix.rstrip('.')}_{name}") for name in names
        },
        service_environment=own_keys(),
        environment={
            "HELPLINE_TOPIC_PREFIX": prefix,
            **stand_in_identity().environment(),
            "HELPLINE_SMTP_SERVER_PORT": str(smtp_port),
            "HELPLINE_RELAY_POLL_INTERVAL": "0.2",
            "HELPLINE_DOMAIN_VERIFICATION": "trust",
        },
    )
    try:
        for name in names:
            stack.start(name)
        yield Deployment(stack, smtp_port)
    finally:
        stack.stop_all()


def web_form_mail(to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Shop contact form <noreply@shop.example>"
    message["Reply-To"] = "Dee Buyer <dee@buyer.example>"
    message["To"] = to
    message["Subject"] = "Contact form: where is my order?"
    message["Message-ID"] = make_msgid(domain="shop.example")
    message.set_content("Order 1234 has not arrived.")
    return message


def test_a_web_form_mail_opens_a_ticket_whose_clock_pauses_when_pending(
    deployment: Deployment,
) -> None:
    tenant = unique_name("shop")
    domain_name = re.sub(r"[^a-z0-9-]", "-", tenant.lower()) + ".example"
    address = f"support@{domain_name}"
    with deployment.client(tenant) as client:
        domain = client.post("/v1/domains", json={"name": domain_name})
        assert domain.status_code == 201, domain.text
        assert client.post(f"/v1/domains/{domain.json()['id']}/verify").status_code == 200
        assert client.post("/v1/mailboxes", json={"address": address}).status_code == 201
        with smtplib.SMTP("127.0.0.1", deployment.smtp_port, timeout=30) as smtp:
            smtp.send_message(web_form_mail(address))

        def opened() -> dict[str, Any] | None:
            items: list[dict[str, Any]] = client.get("/v1/tickets").json()["items"]
            return items[0] if items else None

        ticket = wait_until(opened, 20, "the web form's ticket")
        assert ticket["requester"]["email"] == "dee@buyer.example"

        def resolution(state: str) -> dict[str, Any] | None:
            shown = client.get(f"/v1/tickets/{ticket['id']}").json()["sla"].get("first_response")
            return shown if shown and shown["state"] == state else None

        running = wait_until(lambda: resolution("running"), 20, "the first response clock to start")
        assert running["deadline"]
        response = client.patch(f"/v1/tickets/{ticket['id']}", json={"status": "pending"})
        assert response.status_code == 200, response.text
        paused = wait_until(
            lambda: resolution("paused"),
            PAUSE_SHOWN_WITHIN,
            "the paused clock in intake's ticket view",
        )
        assert paused["deadline"] is None and paused["paused_at"]

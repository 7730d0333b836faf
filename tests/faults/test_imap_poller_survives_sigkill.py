"""The IMAP poller against a real Dovecot: killed with SIGKILL mid-way and restarted, it turns
200 mails into exactly 200 tickets, and no mail leaves the server before it is stored.
"""

from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import httpx
import pytest
from imapclient import IMAPClient

from helpline_devstack._proc import free_ports
from helpline_devstack.dovecot import DovecotServer
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.stack import Stack
from helpline_devstack.testing import unique_name, wait_until
from helpline_shared.runtime.testing import stand_in_identity
from helpline_shared.topics import PARTITIONS, all_topics

pytestmark = [pytest.mark.integration]

MAILS = 200
PASSWORD = "imap-test-password"
PROCESSED = "Processed"


@pytest.fixture
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    server = DovecotServer(tmp_path_factory.mktemp("dovecot"))
    server.add_user("support@imap.test", PASSWORD)
    with server:
        yield server
    server.destroy()


def imap(dovecot: DovecotServer) -> IMAPClient:
    client = IMAPClient("127.0.0.1", port=dovecot.port, ssl=False, timeout=30)
    client.login("support@imap.test", PASSWORD)
    return client


def fill_inbox(dovecot: DovecotServer) -> None:
    client = imap(dovecot)
    try:
        for number in range(MAILS):
            message = EmailMessage()
            message["From"] = f"customer{number}@customer.example"
            message["To"] = "support@imap.test"
            message["Subject"] = f"Request {number}"
            message["Message-ID"] = make_msgid(domain="customer.example")
            message.set_content(f"Request number {number}.")
            client.append("INBOX", message.as_bytes())
    finally:
        client.logout()


def on_server(dovecot: DovecotServer) -> dict[str, int]:
    client = imap(dovecot)
    try:
        counts = {
            "INBOX": len(client.select_folder("INBOX", readonly=True) and client.search(["ALL"]))
        }
        counts[PROCESSED] = (
            len(client.select_folder(PROCESSED, readonly=True) and client.search(["ALL"]))
            if client.folder_exists(PROCESSED)
            else 0
        )
        return counts
    finally:
        client.logout()


def all_tickets(client: httpx.Client) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/tickets", params=params).json()
        found.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def test_sigkill_mid_fetch_loses_and_doubles_nothing(
    kafka: KafkaNode,
    postgres: PostgresServer,
    dovecot: DovecotServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    fill_inbox(dovecot)
    prefix = unique_name("imap") + "."
    kafka.create_topics([prefix + topic for topic in all_topics()], PARTITIONS)
    intake_port, smtp_port = free_ports(2)
    stack = Stack(
        tmp_path_factory.mktemp("imap-intake"),
        kafka.bootstrap_servers,
        ports={"intake": intake_port},
        database_urls={"intake": postgres.create_database(prefix.rstrip(".") + "_intake")},
        environment={
            "HELPLINE_TOPIC_PREFIX": prefix,
            **stand_in_identity().environment(),
            "HELPLINE_SMTP_SERVER_PORT": str(smtp_port),
            "HELPLINE_IMAP_POLL_INTERVAL": "0.3",
            "HELPLINE_IMAP_BATCH_SIZE": "10",
            "HELPLINE_PENDING_SWEEP_INTERVAL": "1",
            # The test's Dovecot listens on 127.0.0.1 without TLS, and its domain has
            # no DNS: all three are development allowances, off in production.
            "HELPLINE_IMAP_ALLOW_PRIVATE_NETWORKS": "true",
            "HELPLINE_IMAP_ALLOW_PLAINTEXT": "true",
            "HELPLINE_DOMAIN_VERIFICATION": "trust",
        },
    )
    tenant = unique_name("imap")
    try:
        stack.start("intake")
        client = httpx.Client(
            base_url=stack.running["intake"].url,
            timeout=20,
            headers={"authorization": f"Bearer {stand_in_identity().api_key(tenant)}"},
        )
        with client:
            domain = client.post("/v1/domains", json={"name": "imap.test"})
            assert domain.status_code == 201, domain.text
            assert client.post(f"/v1/domains/{domain.json()['id']}/verify").status_code == 200
            response = client.post(
                "/v1/mailboxes",
                json={
                    "address": "support@imap.test",
                    "imap": {
                        "host": "127.0.0.1",
                        "port": dovecot.port,
                        "username": "support@imap.test",
                        "password": PASSWORD,
                        "ssl": False,
                        "move_to": PROCESSED,
                    },
                },
            )
            assert response.status_code == 201, response.text
            wait_until(
                lambda: len(all_tickets(client)) >= MAILS // 4,
                120,
                "a quarter of the mail to become tickets",
            )
            stack.kill("intake")
            counts = on_server(dovecot)
            assert counts["INBOX"] + counts[PROCESSED] == MAILS
            assert counts["INBOX"] > 0, "the poller finished before the kill; nothing was tested"

            stack.start("intake")
            wait_until(lambda: on_server(dovecot)["INBOX"] == 0, 180, "the inbox to be drained")
            wait_until(lambda: len(all_tickets(client)) >= MAILS, 60, "every mail as a ticket")
            tickets = all_tickets(client)
        subjects = sorted(ticket["subject"] for ticket in tickets)
        assert len(tickets) == MAILS
        assert subjects == sorted(f"Request {number}" for number in range(MAILS))
        assert on_server(dovecot) == {"INBOX": 0, PROCESSED: MAILS}
    finally:
        stack.stop_all()

"""Mail over SMTP into intake running as its own process, on real Kafka and PostgreSQL.

What an MTA (or ``smtplib``) sees: 550 for unknown recipients, 552 over the size limit, 250 only
once the mail is stored; and what the tenant sees: one ticket per conversation, replies threaded by
headers (never by subject), auto-replies recorded without reopening, bounces linked and published.
"""

import asyncio
import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from helpline_devstack._proc import free_ports
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.stack import Stack
from helpline_devstack.testing import TopicRecorder, unique_name, wait_until
from helpline_shared import topics
from helpline_shared.envelope import to_record
from helpline_shared.events import NotificationDelivered
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import stand_in_identity
from helpline_shared.topics import PARTITIONS, all_topics

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

MAX_SIZE = 300_000


@dataclass
class Intake:
    """Intake as a process, its SMTP port and the topics it publishes to."""

    stack: Stack
    smtp_port: int
    prefix: str
    kafka: KafkaNode
    events: TopicRecorder

    @property
    def url(self) -> str:
        """Intake's HTTP base URL."""
        return self.stack.running["intake"].url

    def client(self, tenant: str) -> httpx.Client:
        """An HTTP client with ``tenant``'s admin token."""
        return httpx.Client(
            base_url=self.url,
            timeout=10,
            headers={"authorization": f"Bearer {stand_in_identity().api_key(tenant)}"},
        )

    def send(self, message: EmailMessage, recipients: list[str] | None = None) -> None:
        """Deliver over SMTP as an MTA would."""
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30) as smtp:
            smtp.send_message(message, to_addrs=recipients)


@pytest.fixture(scope="module")
def intake(
    kafka: KafkaNode, postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Intake]:
    """Intake alone, on its own topics and database, with its SMTP server on a free port."""
    prefix = unique_name("mail") + "."
    kafka.create_topics([prefix + topic for topic in all_topics()], PARTITIONS)
    smtp_port, intake_port = free_ports(2)
    stack = Stack(
        tmp_path_factory.mktemp("email"),
        kafka.bootstrap_servers,
        ports={"intake": intake_port},
        database_urls={"intake": postgres.create_database(prefix.rstrip(".") + "_intake")},
        environment={
            "HELPLINE_TOPIC_PREFIX": prefix,
            **stand_in_identity().environment(),
            "HELPLINE_SMTP_SERVER_PORT": str(smtp_port),
            "HELPLINE_MAX_MESSAGE_SIZE": str(MAX_SIZE),
            "HELPLINE_RELAY_POLL_INTERVAL": "0.2",
            # No DNS here: a domain claim is believed (first tenant to verify wins).
            "HELPLINE_DOMAIN_VERIFICATION": "trust",
        },
    )
    recorder = TopicRecorder(kafka.bootstrap_servers, [prefix + topics.TICKETS])
    try:
        stack.start("intake")
        with recorder:
            yield Intake(stack, smtp_port, prefix, kafka, recorder)
    finally:
        stack.stop_all()


def tenant_with_mailboxes(intake: Intake, *addresses: str) -> str:
    tenant = unique_name("t")
    with intake.client(tenant) as client:
        for domain in sorted({address.rsplit("@", 1)[1] for address in addresses}):
            added = client.post("/v1/domains", json={"name": domain})
            assert added.status_code == 201, added.text
            verified = client.post(f"/v1/domains/{added.json()['id']}/verify")
            assert verified.status_code == 200, verified.text
        for address in addresses:
            response = client.post("/v1/mailboxes", json={"address": address})
            assert response.status_code == 201, response.text
    return tenant


def mail(
    to: str, subject: str = "Printer on fire", sender: str = "cy@customer.example", **headers: str
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Cy <{sender}>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="customer.example")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("The printer smokes.")
    return message


def tickets(intake: Intake, tenant: str) -> list[dict[str, Any]]:
    with intake.client(tenant) as client:
        items: list[dict[str, Any]] = client.get("/v1/tickets").json()["items"]
        return items


def messages(intake: Intake, tenant: str, ticket_id: str) -> list[dict[str, Any]]:
    with intake.client(tenant) as client:
        found: list[dict[str, Any]] = client.get(f"/v1/tickets/{ticket_id}/messages").json()
        return found


def publish_notification_sent(intake: Intake, tenant: str, ticket_id: str, message_id: str) -> None:
    """What notify publishes after mailing the acknowledgement."""
    record = to_record(
        NotificationDelivered(
            tenant_id=tenant,
            ticket_id=ticket_id,
            occurred_at=utcnow(),
            notification_id="n-1",
            channel="email",
            trigger_event_id="e-1",
            trigger_event_type="helpline.ticket.created.v1",
            attempt=1,
            outbound_message_id=message_id,
        ),
        source="/tests/e2e",
    )

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=intake.kafka.bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait(
                intake.prefix + topics.NOTIFICATIONS,
                value=record.value,
                key=record.key,
                headers=list(record.headers),
            )
        finally:
            await producer.stop()

    asyncio.run(send())


def notifications_handled(intake: Intake) -> float:
    """How many notification events intake has handled so far (from its metrics)."""
    total = 0.0
    for line in httpx.get(intake.url + "/metrics").text.splitlines():
        if (
            line.startswith("helpline_events_consumed_total{")
            and f'topic="{intake.prefix}{topics.NOTIFICATIONS}"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_mail_opens_a_ticket_and_replies_and_cc_replies_thread_onto_it(intake: Intake) -> None:
    tenant = tenant_with_mailboxes(intake, f"support@{tenant_slug()}.test")
    address = mailbox_of(intake, tenant)
    original = mail(address)
    intake.send(original)
    [ticket] = wait_until(lambda: tickets(intake, tenant), 20, "the ticket from the mail")
    assert (ticket["channel"], ticket["mailbox"]) == ("email", address)
    # The SMTP session is the root of the ticket's trace.
    created = intake.events.wait_for("helpline.ticket.created.v1", ticket["id"], timeout=20)
    assert created.headers.get("traceparent", b"").count(b"-") == 3

    ack_id = make_msgid(domain="helpline.test")
    handled_before = notifications_handled(intake)
    publish_notification_sent(intake, tenant, ticket["id"], ack_id)
    # A human answers long after the acknowledgement went out: intake knows its Message-ID by then.
    wait_until(
        lambda: notifications_handled(intake) > handled_before,
        20,
        "intake to learn the acknowledgement's Message-ID",
    )
    # The customer answers the acknowledgement; their client dropped the [#token] from the subject.
    answer = mail(address, subject="Re: Printer on fire", In_Reply_To=ack_id, References=ack_id)
    intake.send(answer)
    wait_until(
        lambda: len(messages(intake, tenant, ticket["id"])) == 2,
        20,
        "the answer to the acknowledgement on the ticket",
    )
    colleague = mail(
        address,
        subject="Re: Printer on fire",
        sender="cc@customer.example",
        In_Reply_To=str(original["Message-ID"]),
    )
    intake.send(colleague)
    wait_until(lambda: len(messages(intake, tenant, ticket["id"])) == 3, 20, "the CC'd reply")
    assert len(tickets(intake, tenant)) == 1


def test_one_mail_twice_or_to_two_mailboxes_is_one_ticket(intake: Intake) -> None:
    slug = tenant_slug()
    tenant = tenant_with_mailboxes(intake, f"support@{slug}.test", f"sales@{slug}.test")
    message = mail(f"support@{slug}.test", Cc=f"sales@{slug}.test")
    intake.send(message)
    intake.send(message)
    intake.send(message, [f"sales@{slug}.test"])
    wait_until(lambda: tickets(intake, tenant), 20, "the ticket")
    assert len(tickets(intake, tenant)) == 1
    later = mail(f"support@{slug}.test", subject="Something else")
    intake.send(later)
    wait_until(lambda: len(tickets(intake, tenant)) == 2, 20, "the second ticket")


def test_a_reused_message_id_with_another_sender_and_body_is_a_ticket_too(intake: Intake) -> None:
    slug = tenant_slug()
    tenant = tenant_with_mailboxes(intake, f"support@{slug}.test")
    first = mail(f"support@{slug}.test")
    clash = mail(f"support@{slug}.test", subject="Unrelated", sender="eve@other.example")
    clash.replace_header("Message-ID", str(first["Message-ID"]))
    clash.set_content("Another body entirely.")
    intake.send(first)
    intake.send(clash)  # answered 250 like any other mail: it must not vanish afterwards
    intake.send(clash)
    found = wait_until(
        lambda: len(tickets(intake, tenant)) == 2 and tickets(intake, tenant),
        20,
        "a ticket for each of the two mails",
    )
    assert sorted(ticket["requester"]["email"] for ticket in found) == [
        "cy@customer.example",
        "eve@other.example",
    ]


def test_mailboxes_are_claimed_only_in_the_tenants_verified_domains(intake: Intake) -> None:
    slug = tenant_slug()
    owner = tenant_with_mailboxes(intake, f"support@{slug}.test")
    with intake.client(unique_name("t")) as thief:
        response = thief.post("/v1/mailboxes", json={"address": f"billing@{slug}.test"})
        assert response.status_code == 422
        assert response.json()["detail"].startswith(f"address: the domain {slug}.test is not")
        claim = thief.post("/v1/domains", json={"name": f"{slug}.test"})
        assert claim.status_code == 409 and owner not in claim.text
    intake.send(mail(f"support@{slug}.test"))
    wait_until(lambda: tickets(intake, owner), 20, "the owner's ticket")


def test_unknown_recipients_get_550_and_oversized_mail_552(intake: Intake) -> None:
    slug = tenant_slug()
    tenant_with_mailboxes(intake, f"support@{slug}.test")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        intake.send(mail(f"nobody@{slug}.test"))
    assert next(iter(refused.value.recipients.values()))[0] == 550
    big = (
        f"From: cy@customer.example\r\nTo: support@{slug}.test\r\nSubject: big\r\n\r\n".encode()
        + (b"x" * 70 + b"\r\n") * (MAX_SIZE // 70 + 100)
    )
    with smtplib.SMTP("127.0.0.1", intake.smtp_port, timeout=30) as smtp:
        smtp.ehlo()
        smtp.mail("cy@customer.example")
        smtp.rcpt(f"support@{slug}.test")
        code, text = smtp.data(big)
    assert code == 552 and b"Too much mail data" in text


def test_an_out_of_office_never_reopens_and_a_bounce_is_linked_and_published(
    intake: Intake,
) -> None:
    tenant = tenant_with_mailboxes(intake, f"support@{tenant_slug()}.test")
    address = mailbox_of(intake, tenant)
    original = mail(address)
    intake.send(original)
    [ticket] = wait_until(lambda: tickets(intake, tenant), 20, "the ticket")
    with intake.client(tenant) as client:
        assert (
            client.patch(f"/v1/tickets/{ticket['id']}", json={"status": "pending"}).status_code
            == 200
        )
    intake.send(
        mail(
            address,
            subject="Automatic reply: Printer on fire",
            In_Reply_To=str(original["Message-ID"]),
            Auto_Submitted="auto-replied",
            X_Auto_Response_Suppress="All",
        )
    )
    wait_until(lambda: len(messages(intake, tenant, ticket["id"])) == 2, 20, "the auto-reply")
    assert messages(intake, tenant, ticket["id"])[1]["auto_reply"] is True
    assert tickets(intake, tenant)[0]["status"] == "pending"

    intake.send(dsn(address, str(original["Message-ID"])))
    bounce = intake.events.wait_for("helpline.email.bounced.v1", ticket["id"], timeout=20)
    assert bounce.data()["linked"] is True and bounce.data()["address"] == "cy@customer.example"
    added = [
        record.data()
        for record in intake.events.events("helpline.ticket.message_added.v1", ticket["id"])
    ]
    assert all(item["auto_reply"] for item in added)
    assert not intake.events.events("helpline.ticket.status_changed.v1", ticket["id"])[1:]


def test_quarantined_mail_is_listed_downloadable_and_replayable(intake: Intake) -> None:
    tenant = tenant_with_mailboxes(intake, f"support@{tenant_slug()}.test")
    address = mailbox_of(intake, tenant)
    broken = mail(address)
    del broken["From"]
    intake.send(broken)
    with intake.client(tenant) as client:
        [item] = wait_until(lambda: client.get("/v1/quarantine").json(), 20, "quarantine")
        assert "From" in item["reason"]
        raw = client.get(f"/v1/quarantine/{item['id']}/raw")
        assert raw.content.startswith(b"To:") or b"Subject: Printer on fire" in raw.content
        replayed = client.post(f"/v1/quarantine/{item['id']}/replay").json()
        assert replayed["status"] == "quarantined" and replayed["reason"]


def tenant_slug() -> str:
    return unique_name("acme").replace("_", "-")


def mailbox_of(intake: Intake, tenant: str) -> str:
    with intake.client(tenant) as client:
        address: str = client.get("/v1/mailboxes").json()[0]["address"]
        return address


def dsn(to: str, original_message_id: str) -> EmailMessage:
    report = EmailMessage()
    report["From"] = "MAILER-DAEMON@mx.customer.example"
    report["To"] = to
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Message-ID"] = make_msgid(domain="mx.customer.example")
    report["MIME-Version"] = "1.0"
    report["Content-Type"] = 'multipart/report; report-type=delivery-status; boundary="b"'
    report.set_payload(
        "--b\nContent-Type: text/plain\n\nDelivery failed.\n\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n"
        "Final-Recipient: rfc822; cy@customer.example\nAction: failed\nStatus: 5.1.1\n\n"
        f"--b\nContent-Type: text/rfc822-headers\n\nMessage-ID: {original_message_id}\n\n"
        "--b--\n"
    )
    return report

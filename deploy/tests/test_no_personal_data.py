"""No span attribute and no log line carries a requester's address, name or message body.

A ticket goes through the four services (separate processes, real Kafka) with traces exported
over OTLP to a receiver here; then every exported span and every log line is searched.
"""

import gzip
import json
import smtplib
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from helpline_devstack._proc import free_ports
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.mailsink import MailSink
from helpline_devstack.stack import SERVICE_PORTS, Stack
from helpline_devstack.testing import TopicRecorder, unique_name, wait_until
from helpline_shared import topics
from helpline_shared.runtime.testing import stand_in_identity
from helpline_shared.topics import PARTITIONS, all_topics

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


class SpanDump:
    """An OTLP/HTTP trace receiver that keeps each export as protobuf text."""

    def __init__(self) -> None:
        self.exports: list[str] = []
        dump = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                dump.exports.append(str(request))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # bound at once
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The OTLP endpoint to configure."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "SpanDump":
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()


@pytest.fixture
def spans() -> Iterator[SpanDump]:
    with SpanDump() as dump:
        yield dump


def send_mail(
    intake: str,
    headers: dict[str, str],
    smtp_port: int,
    envelope_sender: str,
    sender: str,
    name: str,
    domain_name: str,
) -> None:
    """Claim a mailbox, deliver one mail to it over SMTP and wait for its ticket."""
    domain = httpx.post(intake + "/v1/domains", headers=headers, json={"name": domain_name})
    assert domain.status_code == 201, domain.text
    httpx.post(
        intake + f"/v1/domains/{domain.json()['id']}/verify", headers=headers
    ).raise_for_status()
    httpx.post(
        intake + "/v1/mailboxes", headers=headers, json={"address": f"support@{domain_name}"}
    ).raise_for_status()
    message = EmailMessage()
    message["From"], message["To"] = f"{name} <{sender}>", f"support@{domain_name}"
    message["Subject"] = "Printer on fire"
    message.set_content("It smokes.")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=20) as client:
        client.send_message(
            message, from_addr=envelope_sender, to_addrs=[f"support+x@{domain_name}"]
        )
    wait_until(
        lambda: len(httpx.get(intake + "/v1/tickets", headers=headers).json()["items"]) == 2,
        20,
        "the ticket of the mail",
    )


def test_no_span_or_log_line_contains_personal_data(
    kafka: KafkaNode, spans: SpanDump, tmp_path: Path
) -> None:
    prefix = unique_name("privacy") + "."
    kafka.create_topics([prefix + topic for topic in all_topics()], PARTITIONS)
    marker = unique_name("p")
    email = f"dana.{marker}@customer.example"
    name = f"Dana {marker}"
    description = f"My account number is {marker}-description"
    reply = f"Also my phone is {marker}-reply"
    # A second customer writes by mail: envelope and header addresses must not be logged either.
    mail_sender, mail_name = f"erin.{marker}@customer.example", f"Erin {marker}"
    envelope_sender = f"bounces.{marker}@customer.example"
    smtp_port, sink_port, *service_ports = free_ports(2 + len(SERVICE_PORTS))
    domain_name = marker.replace("_", "-") + ".test"
    mail = MailSink(tmp_path / "mail", port=sink_port)
    mail.start()
    stack = Stack(
        tmp_path,
        kafka.bootstrap_servers,
        ports=dict(zip(SERVICE_PORTS, service_ports, strict=True)),
        environment={
            "HELPLINE_TOPIC_PREFIX": prefix,
            **stand_in_identity().environment(),
            "HELPLINE_SMTP_PORT": str(mail.port),
            "HELPLINE_LOG_LEVEL": "DEBUG",
            "HELPLINE_SMTP_SERVER_PORT": str(smtp_port),
            "HELPLINE_DOMAIN_VERIFICATION": "trust",
            "HELPLINE_RELAY_POLL_INTERVAL": "0.2",
            "OTEL_EXPORTER_OTLP_ENDPOINT": spans.url,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        },
    )
    tenant = unique_name("privacy")
    headers = {"authorization": f"Bearer {stand_in_identity().api_key(tenant)}"}
    try:
        for service in SERVICE_PORTS:
            stack.start(service)
        with TopicRecorder(
            kafka.bootstrap_servers, [prefix + topics.ROUTING, prefix + topics.SLA]
        ) as recorder:
            agent = httpx.post(
                stack.running["routing"].url + "/v1/agents",
                headers=headers,
                json={
                    "name": "Agent Smith",
                    "email": "smith@helpdesk.example",
                    "skills": {"privacy": 5},
                    "capacity": {"api": 5},
                },
            ).json()
            httpx.put(
                stack.running["routing"].url + f"/v1/agents/{agent['id']}/presence",
                headers=headers,
                json={"status": "available"},
            )
            intake = stack.running["intake"].url
            created = httpx.post(
                intake + "/v1/tickets",
                headers=headers,
                json={
                    "subject": "Cannot log in",
                    "description": description,
                    "tags": ["privacy"],
                    "requester": {"email": email, "name": name},
                    "priority": "high",
                },
            )
            assert created.status_code == 201, created.text
            ticket = created.json()["id"]
            replied = httpx.post(
                intake + f"/v1/tickets/{ticket}/messages",
                headers=headers,
                json={"body": reply, "public": True},
            )
            assert replied.status_code == 201, replied.text
            recorder.wait_for("helpline.ticket.assigned.v1", ticket, timeout=30)
            recorder.wait_for("helpline.sla.clock_started.v1", ticket, timeout=30)
            send_mail(
                intake, headers, smtp_port, envelope_sender, mail_sender, mail_name, domain_name
            )
        wait_until(lambda: mail.messages(), 20, "the assignment mail")
    finally:
        stack.stop_all()  # flushes every service's spans
        mail.stop()

    exported = "\n".join(spans.exports)
    for service in SERVICE_PORTS:
        assert f'string_value: "helpline-{service}"' in exported, f"no span from {service}"
    logs = {path.name: path.read_text() for path in (tmp_path / "logs").glob("*.log")}
    assert set(logs) == {f"{service}.log" for service in SERVICE_PORTS}
    for secret in (
        email,
        name,
        description,
        reply,
        marker,
        mail_sender,
        mail_name,
        envelope_sender,
        f"support+x@{domain_name}",
    ):
        assert secret not in exported, f"a span carries {secret!r}"
        leaking = [
            f"{file}: {line}"
            for file, text in logs.items()
            for line in text.splitlines()
            if secret in line
        ]
        assert leaking == [], f"log lines carry {secret!r}:\n" + "\n".join(leaking[:5])
    assert all(
        json.loads(line)
        for text in logs.values()
        for line in text.splitlines()
        if line.startswith("{")
    )

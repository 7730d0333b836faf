"""All of Helpline as ``make run`` starts it, for the end-to-end and browser tests.

:func:`running_helpline` starts identity, the four services and (optionally) the workspace as
separate processes on the test session's Kafka and PostgreSQL, with a mail sink notify sends to
and intake's SMTP port, under a fresh topic prefix; :class:`Helpline` is what a test holds: URLs,
the demo tenant's admin key, calls as any credential, mail in and out, people made in one call.
"""

import json
import smtplib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

from helpline_devstack._proc import free_ports
from helpline_devstack.identity import DEV_TOKEN, start_with_identity
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.mailsink import MailSink
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.stack import SERVICE_PORTS, Stack
from helpline_devstack.testing import unique_name
from helpline_shared.topics import PARTITIONS, all_topics

DEMO_TENANT = "demo"
DEMO_DOMAIN = "demo.helpline.test"
DEMO_MAILBOX = f"support@{DEMO_DOMAIN}"
PASSWORD = "correct horse battery staple"
"""The password of every person :meth:`Helpline.person` makes."""


@dataclass
class Helpline:
    """The running services, the credentials ``make run`` left in ``home``, mail in and out."""

    stack: Stack
    home: Path
    sink: MailSink
    smtp_port: int
    tenant: str = DEMO_TENANT

    def url(self, service: str) -> str:
        """Base URL of ``service`` (``workspace`` too, when started)."""
        return self.stack.running[service].url

    @property
    def admin_key(self) -> str:
        """The demo tenant's admin API key (``.helpline/dev-token``)."""
        return (self.home / DEV_TOKEN).read_text().strip()

    @property
    def demo_admin(self) -> dict[str, str]:
        """``{tenant, email, password}`` of the demo admin (``.helpline/dev-admin``)."""
        admin: dict[str, str] = json.loads((self.home / "dev-admin").read_text())
        return admin

    def call(
        self,
        credential: str,
        method: str,
        service: str,
        path: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """``method path`` at ``service`` with ``credential`` as bearer."""
        return httpx.request(
            method,
            self.url(service) + path,
            json=body,
            params=params,
            timeout=10,
            headers={"authorization": f"Bearer {credential}"},
        )

    def admin(
        self,
        method: str,
        service: str,
        path: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """A call with the admin key that must succeed; its decoded body."""
        answer = self.call(self.admin_key, method, service, path, body, params)
        assert answer.status_code < 300, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer.json() if answer.content else None

    def sign_in(self, email: str, password: str = PASSWORD) -> str:
        """An access token of ``email`` from identity's password sign-in."""
        answer = httpx.post(
            self.url("identity") + "/v1/login",
            timeout=10,
            json={"tenant": self.tenant, "email": email, "password": password},
        )
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token

    def person(
        self,
        role: str,
        name: str | None = None,
        *,
        teams: list[str] | None = None,
        skills: Mapping[str, int] | None = None,
        auto_accept: bool = True,
        available: bool = True,
    ) -> dict[str, Any]:
        """A new user of ``role`` with :data:`PASSWORD`; with ``skills`` also a routing agent
        (``available`` sets its presence with the person's own token).

        Returns the user (``user_id``, ``email``…) plus ``agent_id`` when an agent was made.
        """
        stem = unique_name(role)
        user: dict[str, Any] = self.admin(
            "POST",
            "identity",
            "/v1/users",
            {
                "name": name or stem.replace("_", " ").title(),
                "email": f"{stem}@demo.helpline.test",
                "role": role,
                "teams": teams or [],
                "password": PASSWORD,
            },
        )
        if skills is not None:
            agent = self.admin(
                "POST",
                "routing",
                "/v1/agents",
                {
                    "name": user["name"],
                    "email": user["email"],
                    "user_id": user["user_id"],
                    "skills": dict(skills),
                    "auto_accept": auto_accept,
                    "teams": teams or [],
                },
            )
            user["agent_id"] = agent["id"]
            if available:
                token = self.sign_in(user["email"])
                present = self.call(
                    token,
                    "PUT",
                    "routing",
                    f"/v1/agents/{agent['id']}/presence",
                    {"status": "available"},
                )
                assert present.status_code == 200, present.text
        return user

    def mail_in(self, message: EmailMessage, recipient: str = DEMO_MAILBOX) -> None:
        """Hand ``message`` to intake's SMTP server as an MTA would."""
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30) as smtp:
            smtp.send_message(message, to_addrs=[recipient])

    def mails_to(self, address: str) -> list[EmailMessage]:
        """Every mail notify sent to ``address``, oldest first."""
        found = []
        for path in self.sink.messages():
            message = message_from_bytes(path.read_bytes(), policy=policy.default)
            assert isinstance(message, EmailMessage)
            if address in str(message["To"]):
                found.append(message)
        return found


@contextmanager
def running_helpline(
    kafka: KafkaNode,
    postgres: PostgresServer,
    home: Path,
    *,
    stem: str = "journey",
    workspace: bool = False,
    environment: Mapping[str, str] | None = None,
) -> Iterator[Helpline]:
    """Identity, the four services and (``workspace``) the workspace, as ``make run`` starts
    them, on fresh topics and databases; the demo tenant's mail domain and mailbox set up."""
    prefix = unique_name(stem) + "."
    kafka.create_topics([prefix + topic for topic in all_topics()], PARTITIONS)
    names = ("identity", *SERVICE_PORTS, *(("workspace",) if workspace else ()))
    sink_port, smtp_port, *service_ports = free_ports(2 + len(names))
    sink = MailSink(home / "mail", port=sink_port)
    stack = Stack(
        home,
        kafka.bootstrap_servers,
        ports=dict(zip(names, service_ports, strict=True)),
        database_urls={
            name: postgres.create_database(f"{prefix.rstrip('.')}_{name}")
            for name in names
            if name != "workspace"
        },
        environment={
            "HELPLINE_TOPIC_PREFIX": prefix,
            "HELPLINE_RELAY_POLL_INTERVAL": "0.2",
            # As run.py sets them: notify mails the sink, intake takes SMTP itself.
            "HELPLINE_SMTP_PORT": str(sink.port),
            "HELPLINE_SMTP_SERVER_PORT": str(smtp_port),
            "HELPLINE_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
            "HELPLINE_DOMAIN_VERIFICATION": "trust",
            **(environment or {}),
        },
    )
    sink.start()
    try:
        started = [
            service.name
            for service in start_with_identity(stack, home, DEMO_TENANT, workspace=workspace)
        ]
        assert started == list(names)
        helpline = Helpline(stack, home, sink, smtp_port)
        domain = helpline.admin("POST", "intake", "/v1/domains", {"name": DEMO_DOMAIN})
        helpline.admin("POST", "intake", f"/v1/domains/{domain['id']}/verify")
        helpline.admin("POST", "intake", "/v1/mailboxes", {"address": DEMO_MAILBOX})
        yield helpline
    finally:
        stack.stop_all()
        sink.stop()

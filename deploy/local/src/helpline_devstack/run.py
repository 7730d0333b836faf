"""``make run``: the broker, a mail sink and the five services, until Ctrl-C or SIGTERM."""

import json
import os
import signal
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from helpline_cli.partners import create_partner
from helpline_devstack.identity import (
    DEV_TOKEN,
    IDENTITY_PORT,
    WORKSPACE_PORT,
    ProvisioningFailed,
    start_with_identity,
)
from helpline_devstack.kafka import BrokerSecurity, KafkaNode
from helpline_devstack.mailsink import MailSink
from helpline_devstack.stack import SERVICE_PORTS, ServiceDidNotStart, Stack
from helpline_shared.kafka_security import environment_variables
from helpline_shared.topics import PARTITIONS, all_topics

SECURITY_VARIABLE = "HELPLINE_DEV_KAFKA_SECURITY"
"""``sasl_ssl``: the broker takes only SASL_SSL, with ACLs and one user per service."""
DEMO_TENANT = "demo"
DEMO_PARTNER = "demo-partner"
DEMO_DOMAIN = "demo.helpline.test"
DEMO_MAILBOX = f"support@{DEMO_DOMAIN}"
SMTP_SINK_PORT = 2526
INTAKE_SMTP_PORT = 2525
DEFAULT_PORTS: dict[str, int] = {
    **SERVICE_PORTS,
    "identity": IDENTITY_PORT,
    "workspace": WORKSPACE_PORT,
    "kafka": 9092,
    "kafka_controller": 9093,
    "smtp_sink": SMTP_SINK_PORT,
    "intake_smtp": INTAKE_SMTP_PORT,
}
"""Every port ``make run`` listens on; ``HELPLINE_DEV_<NAME>_PORT`` moves one (e.g.
``HELPLINE_DEV_INTAKE_PORT``, ``HELPLINE_DEV_KAFKA_CONTROLLER_PORT``)."""


class InvalidPort(ValueError):
    """A HELPLINE_DEV_*_PORT variable that is not a port number."""


def port_variable(name: str) -> str:
    """The variable that moves port ``name``."""
    return f"HELPLINE_DEV_{name.upper()}_PORT"


def dev_ports(environ: dict[str, str] | None = None) -> dict[str, int]:
    """The ports of ``make run``: the defaults, moved by HELPLINE_DEV_<NAME>_PORT."""
    environ = dict(os.environ) if environ is None else environ
    ports: dict[str, int] = {}
    for name, default in DEFAULT_PORTS.items():
        value = environ.get(port_variable(name), str(default)).strip()
        if not value.isdigit() or not 1 <= int(value) <= 65535:
            raise InvalidPort(f"{port_variable(name)}={value}: a port from 1 to 65535")
        ports[name] = int(value)
    if len(set(ports.values())) != len(ports):
        raise InvalidPort(
            "two HELPLINE_DEV_*_PORT settings name the same port: "
            + ", ".join(f"{port_variable(n)}={p}" for n, p in ports.items())
        )
    return ports


def _call(url: str, token: str, body: dict[str, str] | None = None) -> Any:
    """GET (or POST ``body`` as JSON); the decoded answer, None for a 409 (there already)."""
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        if error.code != 409:
            raise
        return None


def _demo_mailbox(intake_url: str, token: str) -> None:
    """Verify the demo domain for the demo tenant, then configure its mailbox.

    Intake runs with ``HELPLINE_DOMAIN_VERIFICATION=trust`` here (no DNS for a .test domain):
    the verify step believes the claim. Both steps are no-ops on a second run.
    """
    _call(intake_url + "/v1/domains", token, {"name": DEMO_DOMAIN})
    for domain in _call(intake_url + "/v1/domains", token):
        if domain["name"] == DEMO_DOMAIN and domain["status"] != "verified":
            _call(intake_url + f"/v1/domains/{domain['id']}/verify", token, {})
    _call(intake_url + "/v1/mailboxes", token, {"address": DEMO_MAILBOX})


class UnknownSecurityMode(ValueError):
    """HELPLINE_DEV_KAFKA_SECURITY names no mode of the local broker."""


def broker_security(environ: dict[str, str] | None = None) -> BrokerSecurity:
    """The local broker's mode from HELPLINE_DEV_KAFKA_SECURITY (plaintext by default)."""
    value = (os.environ if environ is None else environ).get(SECURITY_VARIABLE, "plaintext")
    if value.lower() == "sasl_ssl":
        return "sasl_ssl"
    if value.lower() == "plaintext":
        return "plaintext"
    raise UnknownSecurityMode(f"{SECURITY_VARIABLE}={value}: use plaintext or sasl_ssl")


def _demo_partner(kafka: KafkaNode, home: Path) -> Path:
    """Create the demo tenant's partner and write its client properties."""
    credentials = create_partner(kafka.access(), DEMO_TENANT, DEMO_PARTNER)
    path = home / f"partner-{DEMO_TENANT}.properties"
    path.touch(mode=0o600)
    path.write_text(credentials.properties(kafka.bootstrap_servers, kafka.ca_file.resolve()))
    return path


def run(home: Path = Path(".helpline")) -> int:
    """Start everything, print how to use it, and stop everything on SIGINT or SIGTERM."""
    home.mkdir(parents=True, exist_ok=True)
    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())

    try:
        security = broker_security()
        ports = dev_ports()
    except (UnknownSecurityMode, InvalidPort) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    kafka = KafkaNode(
        home / "kafka",
        port=ports["kafka"],
        controller_port=ports["kafka_controller"],
        security=security,
    )
    sink = MailSink(home / "mail", port=ports["smtp_sink"])
    stack = Stack(
        home,
        kafka.bootstrap_servers,
        ports={name: ports[name] for name in (*SERVICE_PORTS, "identity", "workspace")},
        environment={
            "HELPLINE_SMTP_PORT": str(ports["smtp_sink"]),
            "HELPLINE_SMTP_SERVER_PORT": str(ports["intake_smtp"]),
            # The demo's webhook receivers run on this machine; production refuses loopback.
            "HELPLINE_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
            # Local development only: demo domains have no DNS, IMAP servers run on this machine.
            "HELPLINE_DOMAIN_VERIFICATION": "trust",
            "HELPLINE_IMAP_ALLOW_PRIVATE_NETWORKS": "true",
            "HELPLINE_IMAP_ALLOW_PLAINTEXT": "true",
        },
    )
    try:
        print("starting Kafka (the first run fetches its jars through Maven)...", flush=True)
        kafka.start()
        kafka.create_topics(all_topics(), PARTITIONS)
        clients = kafka.provision_services()
        sink.start()
        # Identity first: the other services verify every credential against it.
        for service in start_with_identity(
            stack,
            home,
            DEMO_TENANT,
            {name: environment_variables(clients[name]) for name in clients},
            workspace=True,
        ):
            print(f"  {service.name:<11} {service.url}   (log: {service.log_file})", flush=True)
        if security == "sasl_ssl":
            partner = _demo_partner(kafka, home)
            print(
                f"\nKafka takes only SASL_SSL on {kafka.bootstrap_servers} (CA: "
                f"{kafka.ca_file}), one user per service. The {DEMO_TENANT!r} partner's "
                f"client properties are in {partner}; the CLI connects as user admin, "
                f"password in {kafka.home / 'admin-password'}.",
                flush=True,
            )
        token = (home / DEV_TOKEN).read_text().strip()
        _demo_mailbox(stack.running["intake"].url, token)
        admin = json.loads((home / "dev-admin").read_text())
        print(
            f"\nHelpline is running. Open the workspace at {stack.running['workspace'].url}/ "
            f"and sign in to organisation {admin['tenant']!r} as {admin['email']} with password "
            f"{admin['password']} (kept in {home / 'dev-admin'}).\n"
            f"Demo tenant {DEMO_TENANT!r}: an admin API key is in "
            f"{home / DEV_TOKEN}, its admin's sign-in ({{tenant, email, password}}) in "
            f"{home / 'dev-admin'}, the operator key in {home / 'operator-key'}.\n"
            f"Inbound mail: SMTP on 127.0.0.1:{ports['intake_smtp']} for "
            f"{DEMO_MAILBOX}.\nOutbound mail lands in {home / 'mail'}/. "
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        while not stop_requested.wait(0.5):
            for name, service in list(stack.running.items()):
                if service.process.poll() is not None:
                    print(f"{name} exited unexpectedly; see {service.log_file}", flush=True)
                    stop_requested.set()
        return 0
    except (ProvisioningFailed, ServiceDidNotStart) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        print("stopping...", flush=True)
        stack.stop_all()
        sink.stop()
        kafka.stop()
        print("stopped.", flush=True)

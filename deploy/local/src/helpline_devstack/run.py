"""``make run``: the broker, a mail sink and the four services, until Ctrl-C or SIGTERM."""

import json
import secrets
import signal
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

from helpline_devstack.identity import IDENTITY_PORT, operator_environment, provision_demo
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.mailsink import MailSink
from helpline_devstack.stack import SERVICE_PORTS, ServiceDidNotStart, Stack
from helpline_shared.runtime.auth import issue_token
from helpline_shared.topics import PARTITIONS, all_topics

DEMO_TENANT = "demo"
DEMO_MAILBOX = "support@demo.helpline.test"
SMTP_SINK_PORT = 2526
INTAKE_SMTP_PORT = 2525


def _demo_mailbox(intake_url: str, token: str) -> None:
    """Configure the demo tenant's mailbox (already there on a second run: 409, fine)."""
    request = urllib.request.Request(
        intake_url + "/v1/mailboxes", data=json.dumps({"address": DEMO_MAILBOX}).encode(),
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
        method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except urllib.error.HTTPError as error:
        if error.code != 409:
            raise


def _token_secret(home: Path) -> str:
    path = home / "token-secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def run(home: Path = Path(".helpline")) -> int:
    """Start everything, print how to use it, and stop everything on SIGINT or SIGTERM."""
    home.mkdir(parents=True, exist_ok=True)
    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())

    kafka = KafkaNode(home / "kafka")
    sink = MailSink(home / "mail", port=SMTP_SINK_PORT)
    secret = _token_secret(home)
    stack = Stack(
        home,
        kafka.bootstrap_servers,
        ports={**SERVICE_PORTS, "identity": IDENTITY_PORT},
        environment={
            "HELPLINE_TOKEN_SECRET": secret,
            "HELPLINE_SMTP_PORT": str(SMTP_SINK_PORT),
            "HELPLINE_SMTP_SERVER_PORT": str(INTAKE_SMTP_PORT),
            # The demo's webhook receivers run on this machine; production refuses loopback.
            "HELPLINE_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        },
    )
    try:
        print("starting Kafka (the first run fetches its jars through Maven)...", flush=True)
        kafka.start()
        kafka.create_topics(all_topics(), PARTITIONS)
        sink.start()
        for name in SERVICE_PORTS:
            service = stack.start(name)
            print(f"  {name:<11} {service.url}   (log: {service.log_file})", flush=True)
        identity = stack.start("identity", operator_environment(home))
        print(f"  identity    {identity.url}   (log: {identity.log_file})", flush=True)
        provision_demo(identity.url, home, DEMO_TENANT)
        token = issue_token(DEMO_TENANT, secret)
        (home / "dev-token").write_text(token + "\n")
        _demo_mailbox(stack.running["intake"].url, token)
        print(
            f"\nHelpline is running. Demo tenant {DEMO_TENANT!r}; its token is in "
            f"{home / 'dev-token'}.\nInbound mail: SMTP on 127.0.0.1:{INTAKE_SMTP_PORT} for "
            f"{DEMO_MAILBOX}.\nOutbound mail lands in {home / 'mail'}/. "
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        print(f"Identity: admin API key in {home / 'dev-identity-key'}, admin sign-in in "
              f"{home / 'dev-admin'} (the other services still take dev-token).", flush=True)
        while not stop_requested.wait(0.5):
            for name, service in list(stack.running.items()):
                if service.process.poll() is not None:
                    print(f"{name} exited unexpectedly; see {service.log_file}", flush=True)
                    stop_requested.set()
        return 0
    except ServiceDidNotStart as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        print("stopping...", flush=True)
        stack.stop_all()
        sink.stop()
        kafka.stop()
        print("stopped.", flush=True)

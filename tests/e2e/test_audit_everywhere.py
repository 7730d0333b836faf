"""A write and a denial on intake reach identity's audit log over Kafka, with their actors.

Identity and intake run as processes on PostgreSQL and the session's broker; intake verifies
identity's real credentials. What intake records goes through its outbox to helpline.audit,
and identity's consumer appends it to the tenant's log (``GET /v1/audit``).
"""

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from helpline_devstack._proc import free_ports
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.stack import Stack
from helpline_devstack.testing import unique_name, wait_until
from helpline_shared.topics import PARTITIONS, all_topics

OPERATOR_KEY = "operator-key-for-the-audit-test-0123456789"
PASSWORD = "correct horse battery staple"
TICKET = {
    "subject": "Export fails",
    "description": "since 4.2",
    "requester": {"email": "cy@customer.example", "name": "Cy"},
}


@dataclass
class Running:
    """Identity and intake, running."""

    identity: str
    intake: str


@pytest.fixture(scope="module")
def running(
    kafka: KafkaNode, postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    prefix = unique_name("audit") + "."
    kafka.create_topics([prefix + topic for topic in all_topics()], PARTITIONS)
    ports = dict(zip(("identity", "intake"), free_ports(2), strict=True))
    issuer = f"http://127.0.0.1:{ports['identity']}"
    stack = Stack(
        tmp_path_factory.mktemp("audit"),
        kafka.bootstrap_servers,
        ports=ports,
        database_urls={
            name: postgres.create_database(f"{prefix.rstrip('.')}_{name}") for name in ports
        },
        environment={
            "HELPLINE_TOPIC_PREFIX": prefix,
            "HELPLINE_RELAY_POLL_INTERVAL": "0.2",
            "HELPLINE_ISSUER": issuer,
            "HELPLINE_IDENTITY_URL": issuer,
            "HELPLINE_IDENTITY_ISSUER": issuer,
            "HELPLINE_OPERATOR_KEY_SHA256": hashlib.sha256(OPERATOR_KEY.encode()).hexdigest(),
            "HELPLINE_SMTP_SERVER_ENABLED": "false",
        },
    )
    try:
        stack.start("identity")
        stack.start("intake")
        yield Running(stack.running["identity"].url, stack.running["intake"].url)
    finally:
        stack.stop_all()


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_intakes_writes_and_denials_are_in_identitys_log(running: Running) -> None:
    tenant = unique_name("acme").replace("_", "-")
    with httpx.Client(base_url=running.identity, timeout=10) as identity:
        created = identity.post(
            "/v1/tenants",
            headers=_bearer(OPERATOR_KEY),
            json={
                "tenant_id": tenant,
                "name": "Acme",
                "admin": {"name": "Root", "email": "root@acme.test", "password": PASSWORD},
            },
        )
        assert created.status_code == 201, created.text
        admin = identity.post(
            "/v1/login", json={"tenant": tenant, "email": "root@acme.test", "password": PASSWORD}
        ).json()["access_token"]
        key = identity.post(
            "/v1/api-keys",
            headers=_bearer(admin),
            json={"name": "reader", "scopes": ["tickets:read"]},
        ).json()

        with httpx.Client(base_url=running.intake, timeout=10) as intake:
            assert (
                intake.post("/v1/tickets", headers=_bearer(key["key"]), json=TICKET).status_code
                == 403
            )
            assert (
                intake.post("/v1/tickets", headers=_bearer(admin), json=TICKET).status_code == 201
            )

        def logged(outcome: str) -> list[dict[str, Any]] | None:
            entries: list[dict[str, Any]] = identity.get(
                "/v1/audit", params={"outcome": outcome}, headers=_bearer(admin)
            ).json()["entries"]
            return [e for e in entries if e["detail"].get("service") == "intake"] or None

        [denied] = wait_until(lambda: logged("denied"), 20, "intake's denial in the log")
        [written] = wait_until(lambda: logged("ok"), 20, "intake's write in the log")
    assert (denied["actor"], denied["target"], denied["source"]) == (
        f"api_key:{key['id']}",
        "/v1/tickets",
        "127.0.0.1",
    )
    assert denied["request_id"]
    assert written["actor"].startswith("user:") and written["target"] == "/v1/tickets"
    assert written["action"] in {"tickets.create", "POST /v1/tickets"}  # before/after require()

"""Issue 12's acceptance on the real identity and the four services, started as ``make run`` does.

Identity first, tenant ``demo`` with its admin and admin API key (``dev-token``), escalation's
own key, then intake, routing, escalation and notify trusting identity: each a separate OS
process on the session's Kafka and PostgreSQL. Real clocks: revocation is measured in seconds.
"""

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest

from helpline_devstack.identity import DEV_TOKEN, secret_file
from helpline_devstack.journeys import DEMO_TENANT, PASSWORD, Helpline, running_helpline
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.testing import unique_name, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

REFUSED_WITHIN = 5.0


class AccessHelpline(Helpline):
    """The running services with what these tests ask of them."""

    def new_key(self, admin: str, scopes: list[str]) -> dict[str, Any]:
        created = self.call(
            admin,
            "POST",
            "identity",
            "/v1/api-keys",
            {"name": unique_name("key"), "scopes": scopes},
        )
        assert created.status_code == 201, created.text
        key: dict[str, Any] = created.json()
        return key

    def new_ticket(self, credential: str) -> httpx.Response:
        return self.call(
            credential,
            "POST",
            "intake",
            "/v1/tickets",
            {
                "subject": "Nightly export fails",
                "description": "Since the upgrade to 4.2",
                "requester": {"email": "cy@customer.example"},
            },
        )

    def probes(self, ticket_id: str) -> dict[str, tuple[str, str]]:
        """A read on each of the five services (its method and path)."""
        return {
            "identity": ("GET", "/v1/teams"),
            "intake": ("GET", f"/v1/tickets/{ticket_id}"),
            "routing": ("GET", f"/v1/tickets/{ticket_id}/routing"),
            "escalation": ("GET", f"/v1/tickets/{ticket_id}/sla"),
            "notify": ("GET", f"/v1/deliveries?ticket_id={ticket_id}"),
        }

    def statuses(self, credential: str, ticket_id: str) -> dict[str, int]:
        return {
            service: self.call(credential, method, service, path).status_code
            for service, (method, path) in self.probes(ticket_id).items()
        }

    def audit(self, **filters: str) -> list[dict[str, Any]]:
        page = httpx.get(
            self.url("identity") + "/v1/audit",
            params=filters,
            timeout=10,
            headers={"authorization": f"Bearer {self.admin_key}"},
        )
        assert page.status_code == 200, page.text
        entries: list[dict[str, Any]] = page.json()["entries"]
        return entries


@pytest.fixture(scope="module")
def helpline(
    kafka: KafkaNode, postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AccessHelpline]:
    with running_helpline(
        kafka, postgres, tmp_path_factory.mktemp("dot-helpline"), stem="access"
    ) as running:
        yield AccessHelpline(running.stack, running.home, running.sink, running.smtp_port)


def refused_everywhere(helpline: AccessHelpline, credential: str, ticket_id: str) -> float:
    """Seconds until all five services answer ``credential`` with 401."""
    start = time.monotonic()
    last: dict[str, int] = {}

    def all_refuse() -> bool:
        nonlocal last
        last = helpline.statuses(credential, ticket_id)
        return set(last.values()) == {401}

    try:
        wait_until(all_refuse, 10, "a 401 from every service")
    except AssertionError as error:
        raise AssertionError(f"{error}: {last}") from error
    return time.monotonic() - start


def accepted_everywhere(helpline: AccessHelpline, credential: str, ticket_id: str) -> None:
    statuses = helpline.statuses(credential, ticket_id)
    assert 401 not in statuses.values(), statuses


def test_make_run_leaves_private_credentials_that_work(helpline: AccessHelpline) -> None:
    for name in ("dev-admin", DEV_TOKEN, "operator-key", "service-key-escalation"):
        assert (helpline.home / name).stat().st_mode & 0o077 == 0, name
    admin = json.loads((helpline.home / "dev-admin").read_text())
    assert admin["tenant"] == DEMO_TENANT
    signed_in = httpx.post(helpline.url("identity") + "/v1/login", json=admin)
    assert signed_in.status_code == 200, signed_in.text
    created = helpline.new_ticket(helpline.admin_key)
    assert created.status_code == 201, created.text


def test_an_agent_created_with_the_admin_key_signs_in_with_a_verifiable_short_jwt(
    helpline: AccessHelpline,
) -> None:
    created = helpline.call(
        helpline.admin_key,
        "POST",
        "identity",
        "/v1/users",
        {
            "name": "Ann Agent",
            "email": "ann@demo.helpline.test",
            "role": "agent",
            "password": PASSWORD,
        },
    )
    assert created.status_code == 201, created.text
    signed_in = httpx.post(
        helpline.url("identity") + "/v1/login",
        json={"tenant": DEMO_TENANT, "email": "ann@demo.helpline.test", "password": PASSWORD},
    )
    assert signed_in.status_code == 200, signed_in.text
    tokens = signed_in.json()
    assert tokens["token_type"] == "Bearer" and tokens["refresh_token"]
    token = tokens["access_token"]

    kid = jwt.get_unverified_header(token)["kid"]
    jwks = jwt.PyJWKClient(helpline.url("identity") + "/.well-known/jwks.json")
    key = jwks.get_signing_key_from_jwt(token)
    assert key.key_id == kid
    claims = jwt.decode(
        token, key, algorithms=["EdDSA"], audience="helpline", issuer=helpline.url("identity")
    )
    assert claims["sub"] == created.json()["user_id"]
    assert (claims["tenant"], claims["role"]) == (DEMO_TENANT, "agent")
    assert 0 < claims["exp"] - time.time() <= 15 * 60

    ticket = helpline.new_ticket(helpline.admin_key).json()
    read = helpline.call(token, "GET", "intake", f"/v1/tickets/{ticket['id']}")
    assert read.status_code == 200, read.text  # intake verified identity's JWT itself


def test_a_read_key_reads_cannot_write_and_is_refused_everywhere_once_revoked(
    helpline: AccessHelpline,
) -> None:
    ticket = helpline.new_ticket(helpline.admin_key)
    assert ticket.status_code == 201, ticket.text
    ticket_id = ticket.json()["id"]
    reader = helpline.new_key(helpline.admin_key, ["tickets:read"])

    read = helpline.call(reader["key"], "GET", "intake", f"/v1/tickets/{ticket_id}")
    assert read.status_code == 200, read.text
    written = helpline.new_ticket(reader["key"])
    assert written.status_code == 403, written.text
    assert written.headers["content-type"].startswith("application/problem+json")
    accepted_everywhere(helpline, reader["key"], ticket_id)

    revoked = helpline.call(
        helpline.admin_key, "DELETE", "identity", f"/v1/api-keys/{reader['id']}"
    )
    assert revoked.status_code == 204, revoked.text
    assert refused_everywhere(helpline, reader["key"], ticket_id) < REFUSED_WITHIN


def test_every_credential_of_a_suspended_tenant_is_refused_everywhere(
    helpline: AccessHelpline,
) -> None:
    tenant = unique_name("acme").replace("_", "-")
    operator = secret_file(helpline.home / "operator-key")
    created = helpline.call(
        operator,
        "POST",
        "identity",
        "/v1/tenants",
        {
            "tenant_id": tenant,
            "name": "Acme",
            "admin": {"name": "Root", "email": f"root@{tenant}.test", "password": PASSWORD},
        },
    )
    assert created.status_code == 201, created.text
    person = httpx.post(
        helpline.url("identity") + "/v1/login",
        json={"tenant": tenant, "email": f"root@{tenant}.test", "password": PASSWORD},
    ).json()["access_token"]
    reader = helpline.new_key(person, ["tickets:read"])["key"]
    ticket = helpline.new_ticket(person)
    assert ticket.status_code == 201, ticket.text
    ticket_id = ticket.json()["id"]
    for credential in (reader, person):
        accepted_everywhere(helpline, credential, ticket_id)

    suspended = helpline.call(operator, "POST", "identity", f"/v1/tenants/{tenant}/suspend")
    assert suspended.status_code == 200, suspended.text
    assert refused_everywhere(helpline, reader, ticket_id) < REFUSED_WITHIN
    assert refused_everywhere(helpline, person, ticket_id) < REFUSED_WITHIN


def test_the_audit_log_shows_who_created_a_user_and_revoked_a_key(helpline: AccessHelpline) -> None:
    admin_key_id = next(
        key["id"]
        for key in helpline.call(helpline.admin_key, "GET", "identity", "/v1/api-keys").json()
        if key["name"] == "make run"
    )
    user = helpline.call(
        helpline.admin_key,
        "POST",
        "identity",
        "/v1/users",
        {"name": "Al Agent", "email": "al@demo.helpline.test", "role": "agent"},
    ).json()
    key = helpline.new_key(helpline.admin_key, ["tickets:read"])
    assert (
        helpline.call(
            helpline.admin_key, "DELETE", "identity", f"/v1/api-keys/{key['id']}"
        ).status_code
        == 204
    )
    denied = helpline.call(
        key["key"],
        "POST",
        "identity",
        "/v1/users",
        {"name": "Eve", "email": "eve@demo.helpline.test", "role": "admin"},
    )
    assert denied.status_code == 401  # a revoked key is nobody: refused before any permission

    reader = helpline.new_key(helpline.admin_key, ["tickets:read"])
    assert (
        helpline.call(
            reader["key"],
            "POST",
            "identity",
            "/v1/users",
            {"name": "Eve", "email": "eve@demo.helpline.test", "role": "admin"},
        ).status_code
        == 403
    )

    def entry(action: str, target: str) -> Callable[[], list[dict[str, Any]]]:
        return lambda: [e for e in helpline.audit(action=action) if e["target"] == target]

    [created] = wait_until(entry("user.create", f"user:{user['user_id']}"), 10, "user.create")
    assert created["actor"] == f"api_key:{admin_key_id}" and created["outcome"] == "ok"
    [revoked] = wait_until(entry("api_key.revoke", f"api_key:{key['id']}"), 10, "the revocation")
    assert revoked["actor"] == f"api_key:{admin_key_id}" and revoked["request_id"]
    denials = wait_until(
        lambda: [
            e
            for e in helpline.audit(action="permission.denied")
            if e["actor"] == f"api_key:{reader['id']}"
        ],
        10,
        "the denial",
    )
    assert [(d["target"], d["outcome"]) for d in denials] == [("POST /v1/users", "denied")]


def test_denied_calls_at_the_other_services_are_audited_with_their_actor(
    helpline: AccessHelpline,
) -> None:
    reader = helpline.new_key(helpline.admin_key, ["tickets:read"])
    actor = f"api_key:{reader['id']}"
    assert helpline.new_ticket(reader["key"]).status_code == 403
    assert (
        helpline.call(
            reader["key"], "PUT", "routing", "/v1/routing/rules", {"rules": []}
        ).status_code
        == 403
    )
    assert (
        helpline.call(
            reader["key"], "PUT", "escalation", "/v1/sla/policies/fast", {"name": "Fast"}
        ).status_code
        == 403
    )
    assert (
        helpline.call(
            reader["key"],
            "POST",
            "notify",
            "/v1/webhook-endpoints",
            {"url": "https://hooks.example.com/in"},
        ).status_code
        == 403
    )
    wanted = {"/v1/tickets", "/v1/routing/rules", "/v1/sla/policies/fast", "/v1/webhook-endpoints"}

    def denials() -> list[dict[str, Any]]:
        found = [e for e in helpline.audit(actor=actor) if e["outcome"] == "denied"]
        return found if {e["target"] for e in found} >= wanted else []

    found = wait_until(denials, 15, "the four services' denials in identity's log")
    assert all(e["actor"] == actor and e["request_id"] for e in found)

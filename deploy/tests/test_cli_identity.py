"""``helpline tenants|users|api-keys`` against a real identity process (PostgreSQL, Kafka)."""

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from typer.testing import CliRunner

from helpline_cli.app import app
from helpline_devstack._proc import free_port
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.stack import Stack
from helpline_devstack.testing import unique_name
from helpline_shared.topics import PARTITIONS, all_topics

pytestmark = pytest.mark.integration

OPERATOR_KEY = "cli-operator-key-0123456789abcdef"
PASSWORD = "correct horse battery staple"


@dataclass
class Identity:
    """The running identity and the environment the CLI reaches it with."""

    url: str

    def cli(
        self,
        *arguments: str,
        token: str | None = None,
        operator: bool = False,
        stdin: str | None = None,
    ) -> tuple[int, str]:
        environment = {"HELPLINE_IDENTITY_URL": self.url}
        if token:
            environment["HELPLINE_TOKEN"] = token
        if operator:
            environment["HELPLINE_OPERATOR_KEY"] = OPERATOR_KEY
        result = CliRunner().invoke(app, list(arguments), env=environment, input=stdin)
        return result.exit_code, result.output

    def login(self, tenant: str, email: str) -> httpx.Response:
        return httpx.post(
            self.url + "/v1/login", json={"tenant": tenant, "email": email, "password": PASSWORD}
        )

    def introspect(self, key: str) -> dict[str, object]:
        answer: dict[str, object] = httpx.post(
            self.url + "/v1/introspect", json={"token": key}
        ).json()
        return answer


@pytest.fixture(scope="module")
def identity(
    kafka: KafkaNode, postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Identity]:
    prefix = unique_name("cli_identity") + "."
    kafka.create_topics([prefix + topic for topic in all_topics()], PARTITIONS)
    port = free_port()
    stack = Stack(
        tmp_path_factory.mktemp("cli-identity"),
        kafka.bootstrap_servers,
        ports={"identity": port},
        database_urls={"identity": postgres.create_database(prefix.rstrip(".") + "_identity")},
        environment={
            "HELPLINE_TOPIC_PREFIX": prefix,
            "HELPLINE_ISSUER": f"http://127.0.0.1:{port}",
            "HELPLINE_OPERATOR_KEY_SHA256": hashlib.sha256(OPERATOR_KEY.encode()).hexdigest(),
        },
    )
    try:
        stack.start("identity")
        yield Identity(f"http://127.0.0.1:{port}")
    finally:
        stack.stop_all()


def new_tenant(identity: Identity) -> tuple[str, str]:
    """A tenant made with the CLI, and its admin's access token."""
    tenant = unique_name("cli").replace("_", "-")
    code, output = identity.cli(
        "tenants",
        "create",
        tenant,
        "--name",
        "Acme",
        "--admin-email",
        f"root@{tenant}.test",
        "--password-stdin",
        "-o",
        "json",
        operator=True,
        stdin=PASSWORD + "\n",
    )
    assert code == 0, output
    assert json.loads(output)["state"] == "active"
    signed_in = identity.login(tenant, f"root@{tenant}.test")
    assert signed_in.status_code == 200, signed_in.text
    return tenant, str(signed_in.json()["access_token"])


def test_tenants_are_created_listed_suspended_and_deleted(identity: Identity) -> None:
    tenant, admin = new_tenant(identity)
    code, output = identity.cli("tenants", "list", "-o", "json", operator=True)
    assert code == 0 and tenant in [t["tenant_id"] for t in json.loads(output)]
    code, output = identity.cli("tenants", "list", operator=True)
    assert code == 0 and "TENANT_ID" in output and tenant in output

    code, output = identity.cli("tenants", "create", tenant, operator=True)
    assert code == 1 and output.startswith("error: identity refused POST /v1/tenants: 409")

    code, output = identity.cli("tenants", "suspend", tenant, "-o", "json", operator=True)
    assert code == 0 and json.loads(output)["state"] == "suspended"
    code, output = identity.cli("users", "list", token=admin)
    assert code == 1 and "identity refused GET /v1/users: 401" in output

    code, output = identity.cli("tenants", "resume", tenant, operator=True)
    assert code == 0 and "state: active" in output
    code, output = identity.cli("tenants", "delete", tenant, operator=True)
    assert code == 1 and "refusing to delete tenant" in output  # not a terminal, no --yes
    code, output = identity.cli("tenants", "delete", tenant, "--yes", operator=True)
    assert code == 0, output
    code, output = identity.cli("tenants", "list", "-o", "json", operator=True)
    assert tenant not in [t["tenant_id"] for t in json.loads(output)]


def test_tenant_commands_refuse_a_tenant_credential(identity: Identity) -> None:
    _tenant, admin = new_tenant(identity)
    result = CliRunner().invoke(
        app,
        ["tenants", "list"],
        env={"HELPLINE_IDENTITY_URL": identity.url, "HELPLINE_OPERATOR_KEY": admin},
    )
    assert result.exit_code == 1
    assert "identity refused GET /v1/tenants: 403" in result.output


def test_users_are_created_with_a_password_updated_and_deactivated(identity: Identity) -> None:
    tenant, admin = new_tenant(identity)
    email = f"ann@{tenant}.test"
    code, output = identity.cli(
        "users",
        "create",
        email,
        "--name",
        "Ann",
        "--role",
        "agent",
        "--password-stdin",
        "-o",
        "json",
        token=admin,
        stdin=PASSWORD + "\n",
    )
    assert code == 0, output
    user = json.loads(output)
    assert (user["email"], user["role"], user["active"]) == (email, "agent", True)
    assert "password" not in output
    assert identity.login(tenant, email).status_code == 200

    code, output = identity.cli("users", "list", "-o", "json", token=admin)
    assert code == 0 and email in [u["email"] for u in json.loads(output)]
    code, output = identity.cli(
        "users", "update", user["user_id"], "--role", "lead", "-o", "json", token=admin
    )
    assert code == 0 and json.loads(output)["role"] == "lead"

    code, output = identity.cli("users", "deactivate", user["user_id"], token=admin)
    assert code == 0 and "active: False" in output
    assert identity.login(tenant, email).status_code == 401


def test_a_bad_user_is_refused_naming_the_field(identity: Identity) -> None:
    _tenant, admin = new_tenant(identity)
    code, output = identity.cli("users", "create", "not-an-address", "--name", "Bob", token=admin)
    assert code == 1
    assert output.startswith("error: identity refused POST /v1/users: 422")
    assert "email" in output


def test_api_keys_are_created_once_listed_without_secret_and_revoked(identity: Identity) -> None:
    _tenant, admin = new_tenant(identity)
    code, output = identity.cli(
        "api-keys", "create", "ci", "--scope", "tickets:read", "-o", "json", token=admin
    )
    assert code == 0, output
    created = json.loads(output)
    assert created["key"].startswith("hlk_") and created["scopes"] == ["tickets:read"]
    assert identity.introspect(created["key"])["active"] is True

    code, output = identity.cli("api-keys", "list", token=admin)
    assert code == 0 and created["prefix"] in output and created["key"] not in output
    code, output = identity.cli("api-keys", "list", "-o", "json", token=admin)
    [listed] = [k for k in json.loads(output) if k["id"] == created["id"]]
    assert "key" not in listed and listed["revoked_at"] is None

    code, output = identity.cli("api-keys", "revoke", created["id"], token=admin)
    assert code == 0 and output.strip() == f"revoked key {created['id']}"
    assert identity.introspect(created["key"])["active"] is False

    code, output = identity.cli("api-keys", "create", "bad", "--scope", "everything", token=admin)
    assert code == 1 and "422" in output and "scopes" in output


def test_an_agent_may_not_create_keys(identity: Identity) -> None:
    tenant, admin = new_tenant(identity)
    code, output = identity.cli(
        "users",
        "create",
        f"al@{tenant}.test",
        "--name",
        "Al",
        "--password-stdin",
        token=admin,
        stdin=PASSWORD + "\n",
    )
    assert code == 0, output
    agent = identity.login(tenant, f"al@{tenant}.test").json()["access_token"]
    code, output = identity.cli("api-keys", "create", "mine", "--scope", "admin", token=agent)
    assert code == 1 and "identity refused POST /v1/api-keys: 403" in output


def test_service_keys_are_the_operators_to_create_list_and_revoke(identity: Identity) -> None:
    _tenant, admin = new_tenant(identity)
    code, output = identity.cli(
        "service-keys", "create", "escalation", "--scope", "tickets:write", token=admin
    )
    assert code == 1 and "HELPLINE_OPERATOR_KEY" in output
    code, output = identity.cli(
        "service-keys",
        "create",
        "escalation",
        "--scope",
        "tickets:write",
        "-o",
        "json",
        operator=True,
    )
    assert code == 0, output
    created = json.loads(output)
    assert created["service"] == "escalation" and created["key"].startswith("hlk_")
    assert identity.introspect(created["key"])["service"] == "escalation"
    code, output = identity.cli("service-keys", "list", "-o", "json", operator=True)
    assert created["id"] in [k["id"] for k in json.loads(output)]
    assert created["key"] not in output
    code, output = identity.cli("service-keys", "revoke", created["id"], operator=True)
    assert code == 0, output
    assert identity.introspect(created["key"])["active"] is False

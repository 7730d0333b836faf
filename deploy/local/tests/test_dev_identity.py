"""``make run``'s provisioning at a real identity: the demo tenant, its admin, dev-token, and
escalation's own key, each kept owner-only and made once."""

import hashlib
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpline_devstack._proc import free_port
from helpline_devstack.identity import (
    DEV_TOKEN,
    identity_environment,
    operator_environment,
    provision_demo,
    provision_service_key,
    secret_file,
)
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.stack import Stack
from helpline_devstack.testing import unique_name
from helpline_shared.topics import PARTITIONS, all_topics

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``.helpline`` folder of one `make run`, kept across its runs."""
    return tmp_path_factory.mktemp("dot-helpline")


@pytest.fixture(scope="module")
def identity(kafka: KafkaNode, home: Path) -> Iterator[str]:
    """Identity as ``make run`` starts it (SQLite under home, operator key hash from home)."""
    prefix = unique_name("devid") + "."
    kafka.create_topics([prefix + topic for topic in all_topics()], PARTITIONS)
    port = free_port()
    stack = Stack(
        home,
        kafka.bootstrap_servers,
        ports={"identity": port},
        environment={
            "HELPLINE_TOPIC_PREFIX": prefix,
            "HELPLINE_ISSUER": f"http://127.0.0.1:{port}",
        },
    )
    try:
        yield stack.start("identity", operator_environment(home)).url
    finally:
        stack.stop_all()


def owner_only(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_demo_tenant_admin_and_dev_token_are_made_once(identity: str, home: Path) -> None:
    tenant = unique_name("demo").replace("_", "-")
    provision_demo(identity, home, tenant)
    admin_file, key_file = home / "dev-admin", home / DEV_TOKEN
    assert owner_only(admin_file) and owner_only(key_file) and owner_only(home / "operator-key")
    credentials = json.loads(admin_file.read_text())
    assert set(credentials) == {"tenant", "email", "password"}
    key = key_file.read_text().strip()
    assert key.startswith("hlk_")
    provision_demo(identity, home, tenant)  # a second `make run`: nothing new
    assert key_file.read_text().strip() == key

    signed_in = httpx.post(identity + "/v1/login", json=credentials)
    assert signed_in.status_code == 200, signed_in.text
    created = httpx.post(
        identity + "/v1/users",
        headers={"Authorization": f"Bearer {key}"},
        json={"name": "Ann", "email": "ann@demo.test", "role": "agent"},
    )
    assert created.status_code == 201, created.text


def test_a_revoked_dev_token_is_replaced_at_the_next_run(identity: str, home: Path) -> None:
    tenant = unique_name("demo").replace("_", "-")
    (home / "dev-admin").unlink(missing_ok=True)
    provision_demo(identity, home, tenant)
    key = (home / DEV_TOKEN).read_text().strip()
    headers = {"Authorization": f"Bearer {key}"}
    [listed] = httpx.get(identity + "/v1/api-keys", headers=headers).json()
    assert (
        httpx.delete(identity + f"/v1/api-keys/{listed['id']}", headers=headers).status_code == 204
    )
    provision_demo(identity, home, tenant)
    replacement = (home / DEV_TOKEN).read_text().strip()
    assert replacement != key
    assert (
        httpx.get(
            identity + "/v1/users", headers={"Authorization": f"Bearer {replacement}"}
        ).status_code
        == 200
    )


def test_services_trust_the_identity_they_are_given(identity: str) -> None:
    assert identity_environment(identity) == {
        "HELPLINE_IDENTITY_URL": identity,
        "HELPLINE_IDENTITY_ISSUER": identity,
    }


def test_only_the_operator_keys_hash_reaches_identity(home: Path) -> None:
    key = secret_file(home / "operator-key")
    assert operator_environment(home) == {
        "HELPLINE_OPERATOR_KEY_SHA256": hashlib.sha256(key.encode()).hexdigest()
    }


def test_escalation_gets_its_own_service_key_once(identity: str, home: Path) -> None:
    assert provision_service_key(identity, home, "intake") == {}
    made = provision_service_key(identity, home, "escalation")
    key = made["HELPLINE_INTAKE_SERVICE_KEY"]
    assert owner_only(home / "service-key-escalation")
    assert provision_service_key(identity, home, "escalation") == made  # a second run
    known = httpx.post(identity + "/v1/introspect", json={"token": key}).json()
    assert (known["active"], known["service"], known["scopes"]) == (
        True,
        "escalation",
        ["tickets:write"],
    )

"""Identity as a process on PostgreSQL and Kafka, with the shared verifier as a service uses it.

Real clocks here: revocation is measured in seconds of wall time, rotation under load.
"""

import asyncio
import hashlib
import json
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest

from helpline_devstack._proc import free_port
from helpline_devstack.identity import provision_demo
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.stack import Stack
from helpline_devstack.testing import TopicRecorder, unique_name, wait_until
from helpline_shared.runtime.credentials import CredentialVerifier, InvalidCredential
from helpline_shared.topics import IDENTITY, PARTITIONS, all_topics

pytestmark = pytest.mark.integration

OPERATOR_KEY = "operator-key-for-integration-tests-0123456789"
PASSWORD = "correct horse battery staple"
PUBLISH_LEAD = 6.0


@dataclass
class Running:
    """A running identity and what the test needs around it."""

    url: str
    issuer: str
    recorder: TopicRecorder
    prefix: str

    def operator(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {OPERATOR_KEY}"}


@pytest.fixture(scope="module")
def identity(
    kafka: KafkaNode, postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    prefix = unique_name("identity") + "."
    kafka.create_topics([prefix + topic for topic in all_topics()], PARTITIONS)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    stack = Stack(
        tmp_path_factory.mktemp("identity"),
        kafka.bootstrap_servers,
        ports={"identity": port},
        database_urls={"identity": postgres.create_database(prefix.rstrip(".") + "_identity")},
        environment={
            "HELPLINE_TOPIC_PREFIX": prefix,
            "HELPLINE_ISSUER": issuer,
            "HELPLINE_OPERATOR_KEY_SHA256": hashlib.sha256(OPERATOR_KEY.encode()).hexdigest(),
            "HELPLINE_SIGNING_KEY_PUBLISH_LEAD": str(PUBLISH_LEAD),
            "HELPLINE_RELAY_POLL_INTERVAL": "0.2",
        },
    )
    with TopicRecorder(kafka.bootstrap_servers, [prefix + IDENTITY]) as recorder:
        try:
            stack.start("identity")
            yield Running(f"http://127.0.0.1:{port}", issuer, recorder, prefix)
        finally:
            stack.stop_all()


def make_tenant(identity: Running, tenant: str) -> str:
    """Create ``tenant`` with an admin; return the admin's access token."""
    with httpx.Client(base_url=identity.url) as client:
        created = client.post(
            "/v1/tenants",
            headers=identity.operator(),
            json={
                "tenant_id": tenant,
                "name": tenant,
                "admin": {"name": "Root", "email": f"root@{tenant}.test", "password": PASSWORD},
            },
        )
        assert created.status_code == 201, created.text
        return login(identity, tenant, f"root@{tenant}.test")


def login(identity: Running, tenant: str, email: str) -> str:
    response = httpx.post(
        identity.url + "/v1/login", json={"tenant": tenant, "email": email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_an_agent_logs_in_and_pyjwt_verifies_the_token_with_the_jwks(identity: Running) -> None:
    tenant = unique_name("t").replace("_", "-")
    admin = make_tenant(identity, tenant)
    created = httpx.post(
        identity.url + "/v1/users",
        headers={"Authorization": f"Bearer {admin}"},
        json={"name": "Ann", "email": "ann@x.test", "role": "agent", "password": PASSWORD},
    )
    assert created.status_code == 201
    token = login(identity, tenant, "ann@x.test")
    kid = jwt.get_unverified_header(token)["kid"]
    client = jwt.PyJWKClient(identity.url + "/.well-known/jwks.json")
    key = client.get_signing_key_from_jwt(token)
    assert key.key_id == kid
    claims = jwt.decode(
        token, key, algorithms=["EdDSA"], audience="helpline", issuer=identity.issuer
    )
    assert claims["role"] == "agent" and claims["tenant"] == tenant
    assert claims["exp"] - time.time() <= 15 * 60
    record = wait_until(
        lambda: [
            r
            for r in identity.recorder.records()
            if r.event_type == "helpline.identity.user.created.v1"
            and r.data()["email"] == "ann@x.test"
        ],
        15,
        "UserCreated on helpline.identity",
    )
    assert record[0].key == tenant.encode()
    assert "password" not in record[0].value.decode()  # type: ignore[union-attr]


async def refused_within(verifier: CredentialVerifier, credential: str) -> float:
    """Seconds until ``verifier`` refuses ``credential`` (verifying every 100 ms)."""
    start = time.monotonic()
    while time.monotonic() - start < 10:
        try:
            await verifier.verify(credential)
        except InvalidCredential:
            return time.monotonic() - start
        await asyncio.sleep(0.1)
    raise AssertionError("still accepted after 10 s")


async def test_a_revoked_key_and_a_suspended_tenant_are_refused_within_5_s(
    identity: Running,
) -> None:
    tenant = unique_name("t").replace("_", "-")
    admin = make_tenant(identity, tenant)
    async with httpx.AsyncClient(
        base_url=identity.url, headers={"Authorization": f"Bearer {admin}"}
    ) as client:
        key = (
            await client.post("/v1/api-keys", json={"name": "ci", "scopes": ["tickets:read"]})
        ).json()
        verifier = CredentialVerifier(identity.url, identity.issuer)
        assert (await verifier.verify(key["key"])).scopes == {"tickets:read"}
        assert (await verifier.verify(admin)).role == "admin"
        assert (await client.delete(f"/v1/api-keys/{key['id']}")).status_code == 204
        assert await refused_within(verifier, key["key"]) < 5
        suspended = await client.post(f"/v1/tenants/{tenant}/suspend", headers=identity.operator())
        assert suspended.status_code == 200
    assert await refused_within(verifier, admin) < 5


async def test_signing_key_rotation_fails_no_verification(identity: Running) -> None:
    tenant = unique_name("t").replace("_", "-")
    first = make_tenant(identity, tenant)
    verifier = CredentialVerifier(identity.url, identity.issuer)
    await verifier.verify(first)
    kids = set()
    deadline = time.monotonic() + PUBLISH_LEAD + 3
    async with httpx.AsyncClient() as client:
        rotated = await client.post(
            identity.url + "/v1/signing-keys/rotate", headers=identity.operator()
        )
        assert rotated.status_code == 201
        new_kid = rotated.json()["kid"]
        while time.monotonic() < deadline:
            response = await client.post(
                identity.url + "/v1/login",
                json={"tenant": tenant, "email": f"root@{tenant}.test", "password": PASSWORD},
            )
            token = response.json()["access_token"]
            kids.add(jwt.get_unverified_header(token)["kid"])
            for each in (first, token):
                await verifier.verify(each)  # any failure fails the test
            await asyncio.sleep(0.3)
    assert new_kid in kids and len(kids) == 2, "tokens were signed by the old key, then the new"


def test_make_runs_provisioning_writes_private_credentials_once(
    identity: Running, tmp_path: Path
) -> None:
    (tmp_path / "operator-key").write_text(OPERATOR_KEY)
    tenant = unique_name("demo").replace("_", "-")
    provision_demo(identity.url, tmp_path, tenant)
    admin_file, key_file = tmp_path / "dev-admin", tmp_path / "dev-token"
    for path in (admin_file, key_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    credentials = json.loads(admin_file.read_text())
    assert set(credentials) == {"tenant", "email", "password"} and credentials["tenant"] == tenant
    key = key_file.read_text().strip()
    provision_demo(identity.url, tmp_path, tenant)  # a second `make run`: nothing new
    assert key_file.read_text().strip() == key
    assert httpx.post(identity.url + "/v1/login", json=credentials).status_code == 200
    created = httpx.post(
        identity.url + "/v1/users",
        headers={"Authorization": f"Bearer {key}"},
        json={"name": "Ann", "email": "ann@demo.test", "role": "agent"},
    )
    assert created.status_code == 201

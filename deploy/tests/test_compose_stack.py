"""The compose stack from the images `make images` builds: a ticket goes end to end through it.

Runs on this machine's own Docker engine (deploy/images/dockerd.sh, root) with no registry: the
services, Kafka, PostgreSQL and the SMTP sink are all local builds. Images from an earlier run are
reused; the first build takes minutes (README, Operations).
"""

import hashlib
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpline_devstack._proc import free_ports

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(3600)]

DEPLOY = Path(__file__).resolve().parents[1]
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
OPERATOR_KEY = "compose-operator-key-0123456789abcdef"
PASSWORD = "correct horse battery staple"
LOCAL_IMAGES = {
    "HELPLINE_IMAGE_TAG": "local",
    "HELPLINE_KAFKA_IMAGE": "helpline-kafka:local",
    "HELPLINE_POSTGRES_IMAGE": "helpline-postgres:local",
    "HELPLINE_MAILSINK_IMAGE": "helpline-mailsink:local",
}
PUBLISHED = (
    "INTAKE",
    "SMTP",
    "ROUTING",
    "ESCALATION",
    "NOTIFY",
    "IDENTITY",
    "WORKSPACE",
    "MAIL_UI",
)


def _run(command: list[str], env: dict[str, str], timeout: float) -> str:
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}{result.stderr}"[-6000:]
    return result.stdout


@pytest.fixture(scope="module")
def docker_env(docker_config: Path) -> Iterator[dict[str, str]]:
    """Environment for docker commands: the private engine (started here when none answers)."""
    script = str(DEPLOY / "images" / "dockerd.sh")
    host = _run(["bash", script, "host"], dict(os.environ), 30).strip().split("=", 1)[1]
    env = {
        **os.environ,
        "DOCKER_HOST": host,
        "DOCKER_CONFIG": str(docker_config),
        "DOCKER_BUILDKIT": "0",
    }
    answered = (
        subprocess.run(
            ["docker", "version"], capture_output=True, env=env, timeout=60, check=False
        ).returncode
        == 0
    )
    if not answered:
        _run(["bash", script, "start"], env, 120)
    try:
        yield env
    finally:
        if not answered:
            _run(["bash", script, "stop"], env, 120)


@pytest.fixture(scope="module")
def local_images(docker_env: dict[str, str]) -> dict[str, str]:
    """Build (or reuse) every image with the same script as `make images`."""
    _run(
        ["bash", str(DEPLOY / "images" / "build.sh")],
        {**docker_env, "PYTHON": sys.executable},
        3000,
    )
    return docker_env


@pytest.fixture(scope="module")
def stack(local_images: dict[str, str]) -> Iterator[dict[str, int]]:
    """The compose stack from local images on free ports; torn down with its volumes."""
    ports = dict(zip(PUBLISHED, free_ports(len(PUBLISHED)), strict=True))
    env = {
        **local_images,
        **LOCAL_IMAGES,
        "HELPLINE_OPERATOR_KEY_SHA256": hashlib.sha256(OPERATOR_KEY.encode()).hexdigest(),
        **{f"HELPLINE_{name}_PUBLISHED_PORT": str(port) for name, port in ports.items()},
    }
    compose = [
        "docker",
        "compose",
        "-f",
        str(COMPOSE_FILE),
        "--project-name",
        f"helpline-test-{uuid.uuid4().hex[:8]}",
    ]
    try:
        _run([*compose, "up", "--detach", "--no-build"], env, 600)
        try:
            for name in ("IDENTITY", "INTAKE", "ROUTING", "ESCALATION", "NOTIFY", "WORKSPACE"):
                _wait_ready(ports[name])
        except AssertionError as error:
            logs = subprocess.run(
                [*compose, "logs", "--tail", "40"],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
                check=False,
            ).stdout
            raise AssertionError(f"{error}\n{logs[-8000:]}") from error
        yield ports
    finally:
        _run([*compose, "down", "--volumes", "--timeout", "20"], env, 300)


def _wait_ready(port: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    status = "no answer"
    while time.monotonic() < deadline:
        try:
            status = str(httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code)
            if status == "200":
                return
        except httpx.HTTPError as error:
            status = repr(error)
        time.sleep(2)
    raise AssertionError(f"the service on port {port} is not ready: {status}")


def _image_user(env: dict[str, str], image: str) -> str:
    return _run(
        ["docker", "image", "inspect", "--format", "{{.Config.User}}", image], env, 60
    ).strip()


def test_every_image_runs_as_a_non_root_user(local_images: dict[str, str]) -> None:
    names = [path.parent.name for path in sorted((DEPLOY.parent / "services").glob("*/Dockerfile"))]
    for name in [*names, "mailsink", "kafka"]:
        assert _image_user(local_images, f"helpline-{name}:local") == "10001:10001", name
    assert _image_user(local_images, "helpline-postgres:local") == "postgres"
    uid = _run(
        ["docker", "run", "--rm", "--entrypoint", "id", "helpline-intake:local", "-u"],
        local_images,
        120,
    ).strip()
    assert uid == "10001"


def _admin_key(identity: str) -> str:
    """An admin API key of a new tenant ``compose``, made as an operator would."""
    created = httpx.post(
        f"{identity}/v1/tenants",
        timeout=30,
        headers={"authorization": f"Bearer {OPERATOR_KEY}"},
        json={
            "tenant_id": "compose",
            "name": "Compose",
            "admin": {"name": "Root", "email": "root@compose.helpline.test", "password": PASSWORD},
        },
    )
    assert created.status_code == 201, created.text
    signed_in = httpx.post(
        f"{identity}/v1/login",
        timeout=30,
        json={"tenant": "compose", "email": "root@compose.helpline.test", "password": PASSWORD},
    )
    assert signed_in.status_code == 200, signed_in.text
    key = httpx.post(
        f"{identity}/v1/api-keys",
        timeout=30,
        json={"name": "compose test", "scopes": ["admin"]},
        headers={"authorization": f"Bearer {signed_in.json()['access_token']}"},
    )
    assert key.status_code == 201, key.text
    return str(key.json()["key"])


@pytest.fixture(scope="module")
def admin_key(stack: dict[str, int]) -> str:
    """The admin key of tenant ``compose`` (made once per stack)."""
    return _admin_key(f"http://127.0.0.1:{stack['IDENTITY']}")


def test_a_ticket_is_assigned_through_the_containers(stack: dict[str, int], admin_key: str) -> None:
    key = admin_key
    headers = {"authorization": f"Bearer {key}"}
    routing = f"http://127.0.0.1:{stack['ROUTING']}"
    intake = f"http://127.0.0.1:{stack['INTAKE']}"
    agent = httpx.post(
        f"{routing}/v1/agents",
        headers=headers,
        timeout=30,
        json={
            "name": "Ada",
            "email": "ada@compose.helpline.test",
            "skills": {"exports": 7},
            "capacity": {"api": 5, "email": 5},
        },
    )
    assert agent.status_code == 201, agent.text
    agent_id = agent.json()["id"]
    presence = httpx.put(
        f"{routing}/v1/agents/{agent_id}/presence",
        headers=headers,
        json={"status": "available"},
        timeout=30,
    )
    assert presence.status_code == 200, presence.text
    ticket = httpx.post(
        f"{intake}/v1/tickets",
        headers=headers,
        timeout=30,
        json={
            "subject": "Nightly export fails",
            "description": "Since 4.2",
            "requester": {"email": "cy@customer.example"},
            "priority": "high",
            "type": "corrective",
            "tags": ["exports"],
        },
    )
    assert ticket.status_code == 201, ticket.text
    url = f"{intake}/v1/tickets/{ticket.json()['id']}"
    deadline = time.monotonic() + 120
    view = httpx.get(url, headers=headers, timeout=30).json()
    while view.get("assignee") != agent_id and time.monotonic() < deadline:
        time.sleep(1)
        view = httpx.get(url, headers=headers, timeout=30).json()
    assert view.get("assignee") == agent_id, view


@pytest.mark.usefixtures("admin_key")  # tenant compose and its admin Root
def test_a_person_signs_in_to_the_workspace_container(stack: dict[str, int]) -> None:
    workspace = f"http://127.0.0.1:{stack['WORKSPACE']}"
    with httpx.Client(base_url=workspace, timeout=30) as browser:
        form = browser.get("/signin")
        assert form.status_code == 200 and "text/html" in form.headers["content-type"]
        # The templates and static files are in the image (package data, not the source tree).
        assert browser.get("/static/app.css").status_code == 200
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token, form.text[-2000:]
        signed_in = browser.post(
            "/signin",
            data={
                "tenant": "compose",
                "email": "root@compose.helpline.test",
                "password": PASSWORD,
                "csrf_token": token.group(1),
            },
        )
        assert signed_in.status_code == 303, signed_in.text[-2000:]
        assert "helpline_session" in browser.cookies
        # Its first page calls the services from inside the compose network: none unreachable.
        work = browser.get(signed_in.headers["location"])
        assert work.status_code < 500 and "Root" in work.text, work.text[-2000:]

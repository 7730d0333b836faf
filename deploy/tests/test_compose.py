"""The laptop compose file is valid and creates every topic Helpline needs."""

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from helpline_shared.topics import PARTITIONS, all_topics

# The first test may build the tool from its Go module (minutes, once per machine).
pytestmark = pytest.mark.timeout(1800)

COMPOSE_FILE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


def compose_config(docker_config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), "config"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "DOCKER_CONFIG": str(docker_config)},
    )


def test_docker_compose_config_accepts_the_compose_file(docker_config: Path) -> None:
    result = compose_config(docker_config)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert {
        "kafka",
        "postgres",
        "intake",
        "routing",
        "escalation",
        "notify",
        "identity",
        "workspace",
    } <= set(services)


def test_compose_services_run_as_hardened_containers(docker_config: Path) -> None:
    services = yaml.safe_load(compose_config(docker_config).stdout)["services"]
    for name in ("intake", "routing", "escalation", "notify", "identity", "workspace"):
        assert services[name]["read_only"] is True
        assert services[name]["cap_drop"] == ["ALL"]
        assert services[name]["build"]["dockerfile"] == f"services/{name}/Dockerfile"


def test_compose_creates_every_shared_topic() -> None:
    command = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["topics"]["command"][-1]
    listed = command.split(" in ", 1)[1].split(";", 1)[0].split()
    assert listed == list(all_topics())
    assert f"--partitions {PARTITIONS}" in command


def test_escalation_opens_preventive_tickets_through_intakes_api(docker_config: Path) -> None:
    services = yaml.safe_load(compose_config(docker_config).stdout)["services"]
    intake_port = services["intake"]["environment"]["HELPLINE_HTTP_PORT"]
    assert (
        services["escalation"]["environment"]["HELPLINE_INTAKE_URL"]
        == f"http://intake:{intake_port}"
    )


def test_each_service_is_healthy_when_its_readyz_answers(docker_config: Path) -> None:
    services = yaml.safe_load(compose_config(docker_config).stdout)["services"]
    for name in ("intake", "routing", "escalation", "notify", "workspace"):
        test = services[name]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"], name
        assert "/readyz" in test[3] and "HELPLINE_HTTP_PORT" in test[3], name
        assert "HELPLINE_HTTP_PORT" in services[name]["environment"], name


def test_every_service_trusts_identity_and_escalation_has_its_own_key(docker_config: Path) -> None:
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), "config"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            **os.environ,
            "DOCKER_CONFIG": str(docker_config),
            "HELPLINE_INTAKE_SERVICE_KEY": "hlk_escalation",
            "HELPLINE_OPERATOR_KEY_SHA256": "ab",
        },
    )
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert "HELPLINE_TOKEN_SECRET" not in result.stdout
    issuer = services["identity"]["environment"]["HELPLINE_ISSUER"]
    identity_port = services["identity"]["environment"]["HELPLINE_HTTP_PORT"]
    for name in ("intake", "routing", "escalation", "notify", "workspace"):
        environment = services[name]["environment"]
        assert environment["HELPLINE_IDENTITY_URL"] == f"http://identity:{identity_port}", name
        assert environment["HELPLINE_IDENTITY_ISSUER"] == issuer, name
    assert services["escalation"]["environment"]["HELPLINE_INTAKE_SERVICE_KEY"] == "hlk_escalation"
    assert services["identity"]["environment"]["HELPLINE_OPERATOR_KEY_SHA256"] == "ab"


def test_the_workspace_is_on_localhost_8085_and_calls_every_service(docker_config: Path) -> None:
    services = yaml.safe_load(compose_config(docker_config).stdout)["services"]
    workspace = services["workspace"]
    assert [(p["host_ip"], p["published"], p["target"]) for p in workspace["ports"]] == [
        ("127.0.0.1", "8085", 8085)
    ]
    environment = workspace["environment"]
    assert environment["HELPLINE_HTTP_PORT"] == "8085"
    for name in ("intake", "routing", "escalation", "notify"):
        port = services[name]["environment"]["HELPLINE_HTTP_PORT"]
        assert environment[f"HELPLINE_{name.upper()}_URL"] == f"http://{name}:{port}", name
    # No database; plain http on this machine, so the cookie cannot be Secure by default.
    assert "HELPLINE_DATABASE_URL" not in environment and "postgres" not in workspace["depends_on"]
    assert environment["HELPLINE_SESSION_COOKIE_SECURE"] == "false"

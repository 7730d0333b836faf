"""Fixtures of the deployment tests: Helm and Docker Compose CLIs, built once and cached."""

import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[1]


def _built(script: str) -> Path:
    result = subprocess.run(
        ["bash", str(DEPLOY / "tools" / script)],
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"{script} failed:\n{result.stderr[-3000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def helm() -> Path:
    """Path of a Helm binary (``deploy/tools/build-helm.sh`` builds it on first use)."""
    return _built("build-helm.sh")


@pytest.fixture(scope="session")
def docker_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DOCKER_CONFIG folder whose CLI plugins include ``docker compose``."""
    if shutil.which("docker") is None:
        pytest.fail("the docker CLI is not installed (deploy/local/system-deps.sh installs it)")
    folder = tmp_path_factory.mktemp("docker-config")
    (folder / "cli-plugins").mkdir()
    (folder / "cli-plugins" / "docker-compose").symlink_to(_built("build-compose.sh"))
    return folder

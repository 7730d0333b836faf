"""Each image: built from the local Debian base (no registry), multi-stage, non-root."""

import importlib.util
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "deploy" / "images"
SERVICE_DOCKERFILES = sorted((REPO / "services").glob("*/Dockerfile"))


def test_every_service_has_a_dockerfile() -> None:
    names = {path.parent.name for path in SERVICE_DOCKERFILES}
    assert {"intake", "routing", "escalation", "notify", "identity", "workspace"} <= names
    assert names == {path.name for path in (REPO / "services").iterdir() if path.is_dir()}
    for dockerfile in SERVICE_DOCKERFILES:
        ignore = dockerfile.with_name("Dockerfile.dockerignore").read_text().splitlines()
        assert f"!services/{dockerfile.parent.name}/" in ignore and "**/tests/" in ignore


def test_the_workspace_image_carries_every_template_and_static_file() -> None:
    """The image installs the workspace as a wheel: only package data reaches it."""
    project = REPO / "services" / "workspace"
    patterns = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["helpline_workspace"]
    package = project / "src" / "helpline_workspace"
    shipped = {path for pattern in patterns for path in package.glob(pattern) if path.is_file()}
    pages = {
        path
        for folder in ("templates", "static")
        for path in (package / folder).rglob("*")
        if path.is_file()
    }
    assert pages and pages - shipped == set()


@pytest.mark.parametrize("dockerfile", SERVICE_DOCKERFILES, ids=lambda path: path.parent.name)
def test_service_dockerfile_builds_from_constraints_and_runs_as_non_root(dockerfile: Path) -> None:
    name = dockerfile.parent.name
    lines = dockerfile.read_text().splitlines()
    stages = [line for line in lines if line.startswith("FROM ")]
    assert stages == ["FROM ${BASE_IMAGE} AS build", "FROM ${BASE_IMAGE}"]
    assert "ARG BASE_IMAGE=helpline-base:bookworm" in lines
    assert any("-c constraints.txt" in line for line in lines)
    assert "USER 10001:10001" in lines
    assert f'ENTRYPOINT ["python", "-m", "helpline_{name}"]' in lines
    assert not any(line.startswith("HEALTHCHECK") for line in lines)
    final_stage = lines[lines.index(stages[1]) :]
    assert not any(tool in line for line in final_stage for tool in ("gcc", "build-essential"))
    # The machine's CA bundle and pip settings reach the build stage only.
    assert not any("build-config" in line for line in final_stage)


@pytest.mark.parametrize(
    "dockerfile",
    [*SERVICE_DOCKERFILES, *sorted(IMAGES.glob("*/Dockerfile"))],
    ids=lambda path: path.parent.name,
)
def test_no_dockerfile_needs_buildkit_or_a_registry(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    assert not any(line.startswith("# syntax=") for line in text.splitlines())
    assert all(
        line.split()[1].startswith(("${BASE_IMAGE}", "helpline-"))
        for line in text.splitlines()
        if line.startswith("FROM ")
    )
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0", "0:0")


def test_image_builds_use_the_classic_builder() -> None:
    assert "export DOCKER_BUILDKIT=0" in (IMAGES / "build.sh").read_text()


def test_the_build_context_leaves_out_the_virtual_environment_and_local_data() -> None:
    rules = (REPO / ".dockerignore").read_text().splitlines()
    assert rules[rules.index("**") + 1 :].count("!.venv") == 0
    assert "**" in rules and "!services/" in rules and "!shared/" in rules


def _apt_mirror() -> ModuleType:
    spec = importlib.util.spec_from_file_location("apt_mirror", IMAGES / "apt_mirror.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_base_image_mirror_comes_from_both_apt_source_formats(tmp_path: Path) -> None:
    apt_mirror = _apt_mirror()
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# deb http://old.example/debian bookworm main\n"
        "deb [arch=amd64] http://mirror.example/debian/ bookworm main\n"
    )
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://other.example/debian\nSuites: trixie\n\n"
        "Types: deb\nURIs: http://security.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n\n"
        "Types: deb\nEnabled: no\nURIs: http://off.example/x\nSuites: bookworm\n"
    )
    found = apt_mirror.entries(tmp_path)
    assert ("http://mirror.example/debian/", ["bookworm"]) in found
    assert ("http://security.example/debian-security", ["bookworm-security"]) in found
    assert all("off.example" not in uri and "old.example" not in uri for uri, _ in found)


def test_the_compose_file_takes_every_image_from_a_variable() -> None:
    services = yaml.safe_load((REPO / "deploy" / "docker-compose.yml").read_text())["services"]
    variables = {
        "kafka": "HELPLINE_KAFKA_IMAGE",
        "topics": "HELPLINE_KAFKA_IMAGE",
        "postgres": "HELPLINE_POSTGRES_IMAGE",
        "mailpit": "HELPLINE_MAILSINK_IMAGE",
    }
    for name, variable in variables.items():
        assert services[name]["image"].startswith(f"${{{variable}:-"), name
    for dockerfile in SERVICE_DOCKERFILES:
        name = dockerfile.parent.name
        assert services[name]["image"] == f"helpline-{name}:${{HELPLINE_IMAGE_TAG:-dev}}"

"""``make run`` needs only Python, Java and Maven; the test-only packages belong to ``make test``.

The script runs as a non-root user would, on a PATH that has Python, a Java, Maven and the few
tools the script itself calls, and none of psql, dovecot, kcat, docker or go.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "system-deps.sh"
TOOLS = ("bash", "sed", "head", "ls")


def fake_path(directory: Path, java_version: str = "17.0.12") -> str:
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = subprocess.run(
            ["bash", "-c", f"command -v {tool}"], capture_output=True, text=True, check=True
        ).stdout.strip()
        (bin_dir / tool).symlink_to(found)
    (bin_dir / "python3").symlink_to(sys.executable)
    scripts = {
        "java": f"echo 'openjdk version \"{java_version}\" 2024-07-16' >&2",
        "mvn": "echo 'Apache Maven 3.8.7'",
        "id": "echo 1000",  # a non-root user
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return str(bin_dir)


def deps(mode: str, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), mode],
        capture_output=True,
        text=True,
        env={"PATH": path, "HOME": os.environ.get("HOME", "/tmp")},
        check=False,
        timeout=60,
    )


def test_run_needs_only_python_java_and_maven(tmp_path: Path) -> None:
    result = deps("run", fake_path(tmp_path))
    assert result.returncode == 0, result.stderr


def test_test_names_what_only_the_tests_need_without_installing_as_non_root(tmp_path: Path) -> None:
    result = deps("test", fake_path(tmp_path))
    assert result.returncode == 1
    assert "kcat" in result.stderr and "golang-go" in result.stderr
    assert "sudo apt-get install" in result.stderr


@pytest.mark.parametrize(
    ("version", "ok"), [("11.0.22", False), ("1.8.0_412", False), ("21.0.4", True), ("17", True)]
)
def test_run_refuses_a_java_older_than_17(tmp_path: Path, version: str, ok: bool) -> None:
    result = deps("run", fake_path(tmp_path, version))
    assert (result.returncode == 0) is ok, result.stderr
    if not ok:
        assert "Java 17+" in result.stderr

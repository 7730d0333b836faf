"""Each service image: multi-stage, slim base, non-root, built from the constraints file."""

from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "services"
NAMES = ("intake", "routing", "escalation", "notify", "identity")


@pytest.mark.parametrize("name", NAMES)
def test_dockerfile_builds_from_constraints_and_runs_as_non_root(name: str) -> None:
    lines = (SERVICES / name / "Dockerfile").read_text().splitlines()
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) == 2 and stages[0].endswith(" AS build")
    assert any("-slim" in line for line in lines if line.startswith("ARG PYTHON_IMAGE="))
    assert any("-c constraints.txt" in line for line in lines)
    assert "USER 10001:10001" in lines
    assert f'ENTRYPOINT ["python", "-m", "helpline_{name}"]' in lines
    assert not any(line.startswith("HEALTHCHECK") for line in lines)
    final_stage = lines[lines.index(stages[1]):]
    assert not any(tool in line for line in final_stage for tool in ("gcc", "build-essential"))

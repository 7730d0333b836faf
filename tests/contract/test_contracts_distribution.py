"""A partner installs ``helpline-contracts`` alone: pydantic and nothing of the runtime.

The distribution is built from a copy of ``shared/contracts`` (so no build output lands in the
tree) and installed by the project's pip into an empty virtual environment, with the pins of
``constraints.txt``. Packages come from pip's usual sources (index, cache, ``PIP_FIND_LINKS``).
"""

import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

from helpline_contracts import EVENT_TYPES

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "shared" / "contracts"

RUNTIME_PACKAGES = ("fastapi", "sqlalchemy", "aiokafka", "faststream", "helpline_shared")
ALLOWED_DISTRIBUTIONS = {
    "helpline-contracts",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-extensions",
    "typing-inspection",
}
"""pydantic and its own dependencies: nothing else may come with the contracts."""

PROBE = """
import importlib.metadata, importlib.util, json
from helpline_contracts import EVENT_TYPES, TicketCreated
from helpline_contracts.envelope import from_record, to_record
from helpline_contracts.schema_export import SCHEMA_DIR, committed_schemas

event = TicketCreated.model_validate({
    "tenant_id": "acme", "ticket_id": "t-1", "occurred_at": "2026-03-02T09:15:00Z",
    "subject": "Export fails", "description": "since 4.2", "requester": {"email": "c@x.org"},
    "priority": "high", "type": "corrective", "channel": "api"})
record = to_record(event, source="/partner/test")
print(json.dumps({
    "present": [name for name in RUNTIME_PACKAGES if importlib.util.find_spec(name)],
    "distributions": sorted({dist.metadata["Name"].lower().replace("_", "-")
                             for dist in importlib.metadata.distributions()}),
    "event_types": len(EVENT_TYPES),
    "schemas": len(committed_schemas()),
    "round_trip": from_record(record.headers, record.value).event == event,
    "from_site_packages": "site-packages" in str(SCHEMA_DIR),
}))
"""


def test_the_contracts_install_alone_with_only_pydantic(tmp_path: Path) -> None:
    source = tmp_path / "contracts"
    shutil.copytree(
        CONTRACTS, source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__")
    )
    target = tmp_path / "venv"
    venv.create(target, with_pip=False)
    python = target / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "-c",
            str(ROOT / "constraints.txt"),
            str(source),
        ],
        check=True,
        timeout=120,
    )

    probe = PROBE.replace("RUNTIME_PACKAGES", repr(RUNTIME_PACKAGES))
    found = json.loads(
        subprocess.run(
            [str(python), "-c", probe],
            check=True,
            timeout=60,
            capture_output=True,
            text=True,
            cwd=tmp_path,
        ).stdout
    )

    assert found["present"] == [], "the contracts must not bring the runtime"
    assert set(found["distributions"]) <= ALLOWED_DISTRIBUTIONS | {"pip"}
    assert {"helpline-contracts", "pydantic"} <= set(found["distributions"])
    assert found["event_types"] == found["schemas"] == len(EVENT_TYPES) >= 25
    assert found["round_trip"] is True
    assert found["from_site_packages"] is True

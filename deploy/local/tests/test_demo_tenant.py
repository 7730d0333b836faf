"""``make run``'s demo tenant: its domain verified and its mailbox configured, run after run."""

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from helpline_devstack._proc import free_port
from helpline_devstack.run import DEMO_DOMAIN, DEMO_MAILBOX, DEMO_TENANT, _demo_mailbox
from helpline_intake.bootstrap import MIGRATIONS, bootstrap
from helpline_intake.config import IntakeSettings
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.testing import stand_in_identity


@pytest.fixture
def intake_url(tmp_path: Path) -> Iterator[str]:
    """Intake's HTTP API as ``make run`` configures it (no broker needed for these routes)."""
    settings = IntakeSettings(
        data_dir=tmp_path,
        **stand_in_identity().settings(),
        smtp_server_enabled=False,
        domain_verification="trust",
    )
    upgrade(MIGRATIONS, settings.resolved_database_url("intake"))
    app, _runtime = bootstrap(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def get(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_the_demo_domain_is_verified_and_its_mailbox_configured_once(intake_url: str) -> None:
    token = stand_in_identity().api_key(DEMO_TENANT)
    _demo_mailbox(intake_url, token)
    _demo_mailbox(intake_url, token)  # a second `make run` on the same data
    [domain] = get(intake_url + "/v1/domains", token)
    assert (domain["name"], domain["status"]) == (DEMO_DOMAIN, "verified")
    assert [box["address"] for box in get(intake_url + "/v1/mailboxes", token)] == [DEMO_MAILBOX]

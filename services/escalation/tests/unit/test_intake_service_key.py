"""Escalation opens preventive tickets at intake as itself: its service key, for a named tenant.

The intake stand-in here is a real HTTP server whose one route has intake's edge: the shared
``require`` dependency, verifying credentials against the stand-in identity.
"""

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from typing import Annotated

import pytest
import uvicorn
from fastapi import FastAPI

from helpline_escalation.adapters.intake_client import HttpTicketOpener
from helpline_escalation.config import EscalationSettings
from helpline_escalation.domain.errors import TicketNotOpened
from helpline_shared.runtime.auth import Principal, require
from helpline_shared.runtime.credentials import CredentialVerifier
from helpline_shared.runtime.testing import stand_in_identity

IDENTITY = stand_in_identity()


class Intake:
    """Where the fake intake listens, and who opened each ticket."""

    def __init__(self, url: str, callers: list[Principal]) -> None:
        self.url = url
        self.callers = callers


@pytest.fixture
async def intake() -> AsyncIterator[Intake]:
    callers: list[Principal] = []
    app = FastAPI()
    app.state.verifier = CredentialVerifier(
        identity_url=IDENTITY.url, issuer=IDENTITY.issuer, audience=IDENTITY.audience
    )

    @app.post("/v1/tickets", status_code=201)
    async def open_ticket(
        principal: Annotated[Principal, require("tickets.create")],
    ) -> dict[str, str]:
        callers.append(principal)
        return {"id": f"T-{len(callers)}"}

    listening = socket.create_server(("127.0.0.1", 0))  # connections queue until served
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[listening]))
    yield Intake(f"http://127.0.0.1:{listening.getsockname()[1]}", callers)
    server.should_exit = True
    await task
    listening.close()


async def test_the_opener_calls_intake_with_its_service_key_for_the_tenant(intake: Intake) -> None:
    key = IDENTITY.service_key("escalation", ("tickets:write",))
    opener = HttpTicketOpener(intake.url, key)
    assert await opener.open_ticket("acme", {"subject": "Tapes"}, "occurrence-1") == "T-1"
    [caller] = intake.callers
    assert (caller.kind, caller.tenant_id) == ("service", "acme")


async def test_without_a_service_key_no_ticket_is_opened_and_the_error_says_why(
    intake: Intake, caplog: pytest.LogCaptureFixture
) -> None:
    opener = HttpTicketOpener(intake.url, None)
    with (
        caplog.at_level(logging.ERROR),
        pytest.raises(TicketNotOpened, match="HELPLINE_INTAKE_SERVICE_KEY"),
    ):
        await opener.open_ticket("acme", {"subject": "Tapes"}, "occurrence-1")
    assert intake.callers == []
    assert any("HELPLINE_INTAKE_SERVICE_KEY" in record.getMessage() for record in caplog.records)


async def test_a_revoked_service_key_opens_nothing(intake: Intake) -> None:
    key = IDENTITY.service_key("escalation", ("tickets:write",))
    IDENTITY.revoke(key)
    with pytest.raises(TicketNotOpened, match="401"):
        await HttpTicketOpener(intake.url, key).open_ticket("acme", {}, "occurrence-1")


def test_the_service_key_is_a_secret_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPLINE_INTAKE_SERVICE_KEY", "hlk_escalation")
    settings = EscalationSettings()
    assert settings.intake_service_key is not None
    assert settings.intake_service_key.get_secret_value() == "hlk_escalation"
    assert "hlk_escalation" not in repr(settings)

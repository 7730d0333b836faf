"""``GET /v1/tickets/{id}/sla``: each clock's history, oldest first, as events with details."""

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from escalation_support import (
    TENANT,
    UnitOfWorkFactory,
    envelope_of,
    message_added,
    pending_timers,
    ticket_created,
)
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_escalation.adapters.policy_documents import PolicyDocument
from helpline_escalation.entrypoints import http
from helpline_escalation.service_layer import handlers, policies
from helpline_shared.events import Event, TicketStatus, TicketStatusChanged
from helpline_shared.runtime.auth import CredentialVerifier
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.problems import install_problem_handlers
from helpline_shared.runtime.testing import stand_in_identity

IDENTITY = stand_in_identity()
HOUR = 3600
START = utcnow().replace(microsecond=0) - timedelta(days=1)
POLICY = PolicyDocument.model_validate(
    {
        "name": "Watched",
        "position": 0,
        "calendar": {"name": "24/7", "always_open": True},
        "metrics": {
            "first_response": {
                "targets": {"high": 4 * HOUR},
                "warnings": [{"fraction_left": 0.5}],
                "escalations": [{"level": 1, "offset_seconds": HOUR, "notify": ["team_lead"]}],
            }
        },
    }
)


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


@pytest.fixture
async def client(unit_of_work: UnitOfWorkFactory) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.state.verifier = CredentialVerifier(IDENTITY.url, IDENTITY.issuer)
    install_problem_handlers(app)
    app.include_router(http.router(unit_of_work))
    await policies.put_policy(TENANT, "watched", POLICY, recompute=False, uow=unit_of_work())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://escalation") as client:
        yield client


async def feed(unit_of_work: UnitOfWorkFactory, event: Event) -> None:
    await handlers.on_ticket_event(envelope_of(event), unit_of_work(), {"high": 99})


async def status(
    unit_of_work: UnitOfWorkFactory, previous: TicketStatus, to: TicketStatus, hours: float
) -> None:
    await feed(
        unit_of_work,
        TicketStatusChanged(
            tenant_id=TENANT,
            ticket_id="t-1",
            occurred_at=at(hours),
            previous_status=previous,
            status=to,
        ),
    )


async def fire_due(engine: AsyncEngine, unit_of_work: UnitOfWorkFactory, hours: float) -> None:
    """Fire every timer due by ``hours`` after the start, as the timer loop would."""
    for timer in await pending_timers(engine):
        if timer.due_at <= at(hours):
            async with unit_of_work() as uow:
                await handlers.fire_timer(uow, timer)
                await uow.commit()


async def history(client: httpx.AsyncClient, ticket_id: str = "t-1") -> list[dict[str, Any]]:
    key = IDENTITY.api_key(TENANT, ["tickets:read"])
    response = await client.get(
        f"/v1/tickets/{ticket_id}/sla", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["metrics"]["first_response"]["history"]
    return entries


async def test_history_lists_every_event_of_the_clock_oldest_first(
    client: httpx.AsyncClient, engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await feed(unit_of_work, ticket_created("t-1", priority="high", at=at(0)))
    await fire_due(engine, unit_of_work, 2)  # the warning, half the target left
    await status(unit_of_work, "new", "pending", 2.5)
    await status(unit_of_work, "pending", "open", 3)  # the deadline moves to 4 h 30
    await fire_due(engine, unit_of_work, 5.5)  # the breach, then level 1 an hour later
    await feed(unit_of_work, message_added("t-1", author_role="agent", at=at(6)))

    entries = await history(client)
    assert [(entry["event"], datetime.fromisoformat(entry["at"])) for entry in entries] == [
        ("started", at(0)),
        ("warned", at(2)),
        ("paused", at(2.5)),
        ("resumed", at(3)),
        ("breached", at(4.5)),
        ("escalated", at(5.5)),
        ("stopped", at(6)),
    ]
    assert [entry["what"] for entry in entries] == [
        "started",
        "warning-0",
        "paused",
        "resumed",
        "breached",
        "level-1",
        "stopped",
    ]
    details = [entry["detail"] for entry in entries]
    assert "50% left" in details[1] and "ticket pending" in details[2]
    assert "escalation level 1" in details[5]
    assert details[6] == "first public agent reply, after the deadline"
    assert all(entry["reason"] for entry in entries)  # the stored fields are still there


async def test_an_answer_in_time_is_met(
    client: httpx.AsyncClient, unit_of_work: UnitOfWorkFactory
) -> None:
    await feed(unit_of_work, ticket_created("t-1", priority="high", at=at(0)))
    await feed(unit_of_work, message_added("t-1", author_role="agent", at=at(1)))
    entries = await history(client)
    assert [entry["event"] for entry in entries] == ["started", "met"]
    assert entries[1]["detail"] == "first public agent reply"

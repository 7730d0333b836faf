"""``GET /v1/reports/sla``: met, breached, running, attainment, median and p90 over a window."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from escalation_support import TENANT, UnitOfWorkFactory, envelope_of, pending_timers
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_escalation.adapters.orm import sla_cycles
from helpline_escalation.adapters.policy_documents import PolicyDocument
from helpline_escalation.entrypoints import http_reports
from helpline_escalation.service_layer import handlers, policies
from helpline_shared.events import (
    Event,
    MessageAdded,
    Requester,
    SlaMetric,
    TicketCreated,
    TicketStatus,
    TicketStatusChanged,
)
from helpline_shared.runtime.auth import CredentialVerifier
from helpline_shared.runtime.problems import install_problem_handlers
from helpline_shared.runtime.testing import stand_in_identity

IDENTITY = stand_in_identity()
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
HOUR = 3600
OTHER = "globex"


def policy(**metric_overrides: Any) -> PolicyDocument:
    """24/7: first response within 4 h, resolution within 24 h (high priority)."""
    return PolicyDocument.model_validate(
        {
            "name": "Standard",
            "position": 0,
            "calendar": {"name": "24/7", "always_open": True},
            "metrics": {
                "first_response": {"targets": {"high": 4 * HOUR}, **metric_overrides},
                "resolution": {"targets": {"high": 24 * HOUR}},
            },
        }
    )


class Tickets:
    """Tickets fed to escalation event by event, at chosen instants."""

    def __init__(self, engine: AsyncEngine, unit_of_work: UnitOfWorkFactory) -> None:
        self.engine = engine
        self.unit_of_work = unit_of_work
        self.statuses: dict[str, TicketStatus] = {}

    async def feed(self, event: Event) -> None:
        await handlers.on_ticket_event(envelope_of(event), self.unit_of_work(), {"high": 99})

    async def created(self, ticket_id: str, at: datetime, tenant_id: str = TENANT) -> None:
        self.statuses[ticket_id] = "new"
        await self.feed(
            TicketCreated(
                tenant_id=tenant_id,
                ticket_id=ticket_id,
                occurred_at=at,
                subject="Printer",
                description="It is on fire",
                requester=Requester(email="ann@example.com"),
                priority="high",
                type="question",
                channel="api",
            )
        )

    async def replied(self, ticket_id: str, at: datetime, tenant_id: str = TENANT) -> None:
        await self.feed(
            MessageAdded(
                tenant_id=tenant_id,
                ticket_id=ticket_id,
                occurred_at=at,
                message_id=f"m-{at}",
                author_role="agent",
                public=True,
                channel="api",
                body="On it",
            )
        )

    async def status(self, ticket_id: str, status: TicketStatus, at: datetime) -> None:
        await self.feed(
            TicketStatusChanged(
                tenant_id=TENANT,
                ticket_id=ticket_id,
                occurred_at=at,
                previous_status=self.statuses[ticket_id],
                status=status,
            )
        )
        self.statuses[ticket_id] = status

    async def breach(self, ticket_id: str, metric: SlaMetric) -> None:
        """Fire the breach timer of the ticket's clock (as the timer loop would, when due)."""
        for timer in await pending_timers(self.engine):
            payload = timer.payload
            if (payload["ticket_id"], payload["metric"], payload["purpose"]) == (
                ticket_id,
                metric,
                "breach",
            ):
                async with self.unit_of_work() as uow:
                    await handlers.fire_timer(uow, timer)
                    await uow.commit()
                return
        raise AssertionError(f"no breach timer for {ticket_id} {metric}")


@pytest.fixture
async def tickets(engine: AsyncEngine, unit_of_work: UnitOfWorkFactory) -> Tickets:
    for tenant in (TENANT, OTHER):
        await policies.put_policy(tenant, "standard", policy(), recompute=False, uow=unit_of_work())
    return Tickets(engine, unit_of_work)


@pytest.fixture
async def client(unit_of_work: UnitOfWorkFactory) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.state.verifier = CredentialVerifier(IDENTITY.url, IDENTITY.issuer)
    install_problem_handlers(app)
    app.include_router(http_reports.router(unit_of_work, now=lambda: NOW))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://escalation") as client:
        yield client


def as_lead(tenant: str = TENANT) -> dict[str, str]:
    return {"Authorization": f"Bearer {IDENTITY.person(tenant, 'lead', user_id='lead-1')}"}


async def report(
    client: httpx.AsyncClient, days: int | None = None, tenant: str = TENANT
) -> dict[str, Any]:
    params = {} if days is None else {"days": days}
    response = await client.get("/v1/reports/sla", params=params, headers=as_lead(tenant))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def a_week_and_a_month(tickets: Tickets) -> None:
    """Met, met after a pause, breached then answered late, running, older and ancient."""
    start = NOW - timedelta(days=2)
    await tickets.created("met", start)
    await tickets.replied("met", start + timedelta(hours=1))
    await tickets.status("met", "solved", start + timedelta(hours=5))

    start = NOW - timedelta(days=3)
    await tickets.created("paused", start)
    await tickets.status("paused", "pending", start + timedelta(minutes=10))
    await tickets.status("paused", "open", start + timedelta(hours=2, minutes=10))
    await tickets.replied("paused", start + timedelta(hours=2, minutes=40))  # 40 min active

    start = NOW - timedelta(days=2)
    await tickets.created("late", start)
    await tickets.breach("late", "first_response")
    await tickets.replied("late", start + timedelta(hours=6))

    await tickets.created("running", NOW - timedelta(hours=1))

    start = NOW - timedelta(days=20)
    await tickets.created("older", start)
    await tickets.replied("older", start + timedelta(hours=2))

    start = NOW - timedelta(days=40)
    await tickets.created("ancient", start)
    await tickets.replied("ancient", start + timedelta(hours=1))


async def test_the_last_seven_days_count_met_breached_and_running_with_pauses_subtracted(
    tickets: Tickets, client: httpx.AsyncClient
) -> None:
    await a_week_and_a_month(tickets)
    body = await report(client)
    assert (body["days"], body["generated_at"]) == (7, "2026-11-30T12:00:00Z")
    first = body["metrics"]["first_response"]
    assert (first["met"], first["breached"], first["running"]) == (2, 1, 1)
    assert first["attainment"] == pytest.approx(2 / 3)
    # Times to meet in the week: 40 min (2 h paused), 1 h, and the late answer's 6 h.
    assert first["median_seconds"] == pytest.approx(HOUR)
    assert first["p90_seconds"] == pytest.approx(HOUR + 0.8 * 5 * HOUR)
    resolution = body["metrics"]["resolution"]
    assert (resolution["met"], resolution["breached"], resolution["running"]) == (1, 0, 5)
    assert resolution["attainment"] == 1.0
    assert resolution["median_seconds"] == resolution["p90_seconds"] == pytest.approx(5 * HOUR)


async def test_thirty_days_reach_further_back_than_seven(
    tickets: Tickets, client: httpx.AsyncClient
) -> None:
    await a_week_and_a_month(tickets)
    first = (await report(client, 30))["metrics"]["first_response"]
    assert (first["met"], first["breached"], first["running"]) == (3, 1, 1)
    assert first["attainment"] == pytest.approx(3 / 4)
    # 40 min, 1 h, 2 h, 6 h (the ancient ticket's 1 h is 40 days old).
    assert first["median_seconds"] == pytest.approx(1.5 * HOUR)
    assert first["p90_seconds"] == pytest.approx(2 * HOUR + 0.7 * 4 * HOUR)


async def test_a_clock_stopped_just_inside_the_window_counts_and_just_outside_does_not(
    tickets: Tickets, client: httpx.AsyncClient
) -> None:
    edge = NOW - timedelta(days=7)
    await tickets.created("inside", edge - timedelta(hours=1))
    await tickets.replied("inside", edge + timedelta(minutes=1))
    await tickets.created("outside", edge - timedelta(hours=1))
    await tickets.replied("outside", edge - timedelta(minutes=1))
    assert (await report(client, 7))["metrics"]["first_response"]["met"] == 1
    assert (await report(client, 8))["metrics"]["first_response"]["met"] == 2


async def test_a_clock_stopped_while_paused_does_not_count_its_last_pause(
    tickets: Tickets, client: httpx.AsyncClient
) -> None:
    start = NOW - timedelta(days=1)
    await tickets.created("waiting", start)
    await tickets.status("waiting", "pending", start + timedelta(hours=1))
    await tickets.status("waiting", "solved", start + timedelta(hours=3))
    resolution = (await report(client))["metrics"]["resolution"]
    assert (resolution["met"], resolution["median_seconds"]) == (1, pytest.approx(HOUR))


async def test_a_reopened_ticket_keeps_its_first_resolution_in_the_report(
    tickets: Tickets, client: httpx.AsyncClient
) -> None:
    start = NOW - timedelta(days=1)
    await tickets.created("reopened", start)
    await tickets.status("reopened", "solved", start + timedelta(hours=2))
    await tickets.status("reopened", "open", start + timedelta(hours=3))
    resolution = (await report(client))["metrics"]["resolution"]
    assert (resolution["met"], resolution["running"]) == (1, 1)
    assert resolution["median_seconds"] == pytest.approx(2 * HOUR)


async def test_a_restart_keeps_the_outcome_of_the_cycle_it_replaces(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await policies.put_policy(
        TENANT,
        "standard",
        PolicyDocument.model_validate(
            {
                "name": "Updates",
                "position": 0,
                "calendar": {"name": "24/7", "always_open": True},
                "metrics": {"periodic_update": {"targets": {"high": 4 * HOUR}}},
            }
        ),
        recompute=False,
        uow=unit_of_work(),
    )
    tickets = Tickets(engine, unit_of_work)
    start = NOW - timedelta(days=1)
    await tickets.created("updates", start)
    await tickets.replied("updates", start + timedelta(hours=1))
    await tickets.replied("updates", start + timedelta(hours=3))
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(sla_cycles.c.cycle, sla_cycles.c.active_seconds)
                .where(sla_cycles.c.metric == "periodic_update")
                .order_by(sla_cycles.c.cycle)
            )
        ).all()
    assert [(row.cycle, row.active_seconds) for row in rows] == [(1, 2 * HOUR), (2, None)]


async def test_nothing_decided_gives_null_attainment_and_times(client: httpx.AsyncClient) -> None:
    body = await report(client)
    assert body["metrics"]["first_response"] == {
        "met": 0,
        "breached": 0,
        "running": 0,
        "attainment": None,
        "median_seconds": None,
        "p90_seconds": None,
    }


async def test_each_tenant_sees_only_its_own_clocks(
    tickets: Tickets, client: httpx.AsyncClient
) -> None:
    await a_week_and_a_month(tickets)
    start = NOW - timedelta(days=1)
    await tickets.created("theirs", start, tenant_id=OTHER)
    await tickets.replied("theirs", start + timedelta(minutes=5), tenant_id=OTHER)
    theirs = (await report(client, tenant=OTHER))["metrics"]["first_response"]
    assert (theirs["met"], theirs["breached"], theirs["running"]) == (1, 0, 0)
    assert theirs["median_seconds"] == pytest.approx(300)
    ours = (await report(client))["metrics"]["first_response"]
    assert (ours["met"], ours["median_seconds"]) == (2, pytest.approx(HOUR))


async def test_an_agent_is_refused_and_a_reports_key_is_allowed(client: httpx.AsyncClient) -> None:
    agent = IDENTITY.person(TENANT, "agent", user_id="agent-1")
    refused = await client.get("/v1/reports/sla", headers={"Authorization": f"Bearer {agent}"})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    key = IDENTITY.api_key(TENANT, ["reports:read"])
    allowed = await client.get("/v1/reports/sla", headers={"Authorization": f"Bearer {key}"})
    assert allowed.status_code == 200
    assert (await client.get("/v1/reports/sla")).status_code == 401


@pytest.mark.parametrize("days", ["0", "91", "-7", "seven", "7.5"])
async def test_days_out_of_range_is_a_problem_naming_days(
    client: httpx.AsyncClient, days: str
) -> None:
    response = await client.get("/v1/reports/sla", params={"days": days}, headers=as_lead())
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == ["days"]


async def test_the_report_is_documented_with_an_example(unit_of_work: UnitOfWorkFactory) -> None:
    app = FastAPI()
    app.include_router(http_reports.router(unit_of_work))
    document = app.openapi()
    schema = document["components"]["schemas"]["SlaReportOut"]
    assert schema["examples"][0]["metrics"]["first_response"]["attainment"] == 0.9
    assert {"met", "breached", "running", "attainment", "median_seconds", "p90_seconds"} == set(
        document["components"]["schemas"]["SlaAttainmentOut"]["properties"]
    )

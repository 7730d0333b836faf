"""The workspace's queues and the backlog report: list filters, search, SLA sort with paging,
the team learnt from routing, grouped backlog figures, permissions, tenant isolation, bad input.

Time is the test's own clock (``Clock``) passed to ``bootstrap``; nothing waits on the wall."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from helpline_intake.adapters.attachments import MemoryAttachmentStore
from helpline_intake.bootstrap import MIGRATIONS, bootstrap
from helpline_intake.config import IntakeSettings
from helpline_intake.service_layer import handlers
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared.envelope import Envelope, new_event_id
from helpline_shared.events import (
    Event,
    SlaBreached,
    SlaClockPaused,
    SlaClockStarted,
    TicketAssigned,
    TicketClassified,
)
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.service import ServiceRuntime
from helpline_shared.runtime.testing import stand_in_identity

IDENTITY = stand_in_identity()
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    """The instant the app counts SLA risk from; tests move it."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Desk:
    """Intake's app on SQLite, a person or key per call, and the consumer's handlers."""

    app: Any
    runtime: ServiceRuntime
    clock: Clock = field(default_factory=Clock)

    def unit_of_work(self) -> IntakeUnitOfWork:
        return self.runtime.unit_of_work(IntakeUnitOfWork)

    def client(
        self,
        tenant: str = "acme",
        role: str | None = None,
        scopes: tuple[str, ...] = ("tickets:read", "tickets:write", "admin"),
    ) -> httpx.AsyncClient:
        """A client with an API key of ``scopes``, or a person's token when ``role`` is given."""
        bearer = IDENTITY.person(tenant, role) if role else IDENTITY.api_key(tenant, scopes)
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://intake",
            headers={"authorization": f"Bearer {bearer}"},
        )

    async def open(
        self,
        tenant: str = "acme",
        subject: str = "Export fails",
        email: str = "cy@customer.example",
        name: str | None = "Cy",
        priority: str = "normal",
    ) -> str:
        """Open a ticket through the API; its id."""
        async with self.client(tenant) as client:
            response = await client.post(
                "/v1/tickets",
                json={
                    "subject": subject,
                    "description": "details",
                    "requester": {"email": email, "name": name},
                    "priority": priority,
                },
            )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def consume(self, event: Event) -> None:
        """Apply one event as intake's consumer does."""
        await handlers.on_event(
            Envelope(
                id=new_event_id(),
                source="/helpline/test",
                type=event.event_type,
                time=event.occurred_at,
                subject=event.ticket_id,
                event=event,
            ),
            self.unit_of_work(),
        )

    async def classify(self, ticket_id: str, team: str | None, tenant: str = "acme") -> None:
        await self.consume(
            TicketClassified(
                tenant_id=tenant,
                ticket_id=ticket_id,
                occurred_at=NOW,
                rule_id="r",
                rule_version=1,
                priority="normal",
                team=team,
            )
        )

    async def assign(self, ticket_id: str, agent: str = "agent-1", tenant: str = "acme") -> None:
        await self.consume(
            TicketAssigned(
                tenant_id=tenant,
                ticket_id=ticket_id,
                occurred_at=NOW,
                agent_id=agent,
                agent_name="Ada",
                agent_email="ada@acme.test",
                channel="api",
                candidates_considered=1,
                reason="only one",
            )
        )

    async def clock_due(
        self,
        ticket_id: str,
        due_in: timedelta,
        metric: str = "first_response",
        tenant: str = "acme",
        version: int = 1,
    ) -> None:
        """Start a clock of ``metric`` due ``due_in`` after the test's now."""
        await self.consume(
            SlaClockStarted(
                tenant_id=tenant,
                ticket_id=ticket_id,
                occurred_at=NOW,
                metric=metric,
                target_seconds=3600,
                started_at=NOW,
                deadline=NOW + due_in,
                clock_version=version,
                reason="policy",
            )
        )

    async def breach(
        self, ticket_id: str, metric: str = "first_response", tenant: str = "acme"
    ) -> None:
        await self.consume(
            SlaBreached(
                tenant_id=tenant,
                ticket_id=ticket_id,
                occurred_at=NOW,
                metric=metric,
                deadline=NOW - timedelta(minutes=5),
                clock_version=1,
                reason="no reply",
            )
        )

    async def pause(
        self, ticket_id: str, metric: str = "first_response", tenant: str = "acme"
    ) -> None:
        await self.consume(
            SlaClockPaused(
                tenant_id=tenant,
                ticket_id=ticket_id,
                occurred_at=NOW,
                metric=metric,
                clock_version=1,
                elapsed_seconds=60,
                reason="pending",
            )
        )

    async def listed(self, tenant: str = "acme", **params: Any) -> list[str]:
        """Every ticket id the list gives for ``params``, following the cursor to the end."""
        seen: list[str] = []
        cursor: str | None = None
        async with self.client(tenant) as client:
            while True:
                query = {**params, **({"cursor": cursor} if cursor else {})}
                response = await client.get("/v1/tickets", params=query)
                assert response.status_code == 200, response.text
                page = response.json()
                seen.extend(item["id"] for item in page["items"])
                cursor = page["next_cursor"]
                if cursor is None:
                    return seen


@asynccontextmanager
async def desk_on_sqlite(directory: Path) -> AsyncIterator[Desk]:
    """A migrated intake app on a SQLite file in ``directory``, its lifespan not started."""
    settings = IntakeSettings(
        data_dir=directory,
        **IDENTITY.settings(),
        smtp_server_enabled=False,
        domain_verification="trust",
    )
    await asyncio.to_thread(upgrade, MIGRATIONS, settings.resolved_database_url("intake"))
    clock = Clock()
    app, runtime = bootstrap(settings, MemoryAttachmentStore(), clock=clock)
    try:
        yield Desk(app, runtime, clock)
    finally:
        await runtime.engine.dispose()


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    async with desk_on_sqlite(tmp_path) as made:
        yield made


def test_intake_follows_routing_s_classification() -> None:
    assert handlers.handler_table().get(TicketClassified.event_type) is not None


async def test_the_team_routing_classified_to_shows_on_the_ticket(desk: Desk) -> None:
    billing = await desk.open()
    nobody = await desk.open()
    await desk.classify(billing, "billing")
    await desk.classify(nobody, None)
    async with desk.client() as client:
        shown = (await client.get(f"/v1/tickets/{billing}")).json()
        other = (await client.get(f"/v1/tickets/{nobody}")).json()
    assert shown["team"] == "billing" and other["team"] is None
    assert await desk.listed(team="billing") == [billing]


async def test_next_deadline_is_the_earliest_running_clock(desk: Desk) -> None:
    ticket = await desk.open()
    async with desk.client() as client:
        assert (await client.get(f"/v1/tickets/{ticket}")).json()["next_deadline"] is None
        await desk.clock_due(ticket, timedelta(hours=8), metric="resolution")
        await desk.clock_due(ticket, timedelta(hours=2))
        due = (await client.get(f"/v1/tickets/{ticket}")).json()["next_deadline"]
        assert datetime.fromisoformat(due) == NOW + timedelta(hours=2)
        # A paused clock has no deadline: the other running one is next.
        await desk.pause(ticket)
        due = (await client.get(f"/v1/tickets/{ticket}")).json()["next_deadline"]
        assert datetime.fromisoformat(due) == NOW + timedelta(hours=8)


async def test_unassigned_and_sla_filters(desk: Desk) -> None:
    assigned, waiting, breached, at_risk, later, paused = [await desk.open() for _ in range(6)]
    await desk.assign(assigned)
    await desk.clock_due(breached, timedelta(minutes=-5))
    await desk.breach(breached)
    await desk.clock_due(at_risk, timedelta(minutes=30))
    await desk.clock_due(later, timedelta(hours=3))
    await desk.clock_due(paused, timedelta(minutes=10))
    await desk.pause(paused)

    assert await desk.listed(unassigned="true") == [waiting, breached, at_risk, later, paused]
    assert await desk.listed(unassigned="false") == [assigned]
    assert await desk.listed(sla="breached") == [breached]
    assert await desk.listed(sla="at_risk") == [at_risk]
    # An hour on, the later clock is due within the hour too; at_risk counts from the clock.
    desk.clock.now = NOW + timedelta(hours=2, minutes=30)
    assert await desk.listed(sla="at_risk") == [at_risk, later]
    assert await desk.listed(sla="at_risk", unassigned="true", limit=1) == [at_risk, later]


async def test_search_matches_subject_address_and_name_in_any_case(desk: Desk) -> None:
    printer = await desk.open(subject="Printer on FIRE", email="ann@one.example", name="Ann")
    invoice = await desk.open(subject="Invoice", email="Bob.Smith@Two.example", name="Bob")
    umlaut = await desk.open(
        subject="Ärger mit der Rechnung", email="c@three.example", name="Zoë Quast"
    )
    percent = await desk.open(subject="100% down", email="d@four.example", name=None)

    assert await desk.listed(q="printer on fire") == [printer]
    assert await desk.listed(q="two.EXAMPLE") == [invoice]
    assert await desk.listed(q="bob smith") == []
    assert await desk.listed(q="zoË") == [umlaut]
    assert await desk.listed(q="ärger") == [umlaut]
    # Wildcards of LIKE are plain characters in a search.
    assert await desk.listed(q="0%") == [percent]
    assert await desk.listed(q="_") == []
    assert await desk.listed(q="EXAMPLE", limit=1) == [printer, invoice, umlaut, percent]


async def test_sla_sort_puts_the_nearest_deadline_first_and_pages_through_all(desk: Desk) -> None:
    none_1, late, soon, none_2, overdue, middle, none_3 = [await desk.open() for _ in range(7)]
    await desk.clock_due(late, timedelta(hours=9))
    await desk.clock_due(soon, timedelta(minutes=20))
    await desk.clock_due(overdue, timedelta(minutes=-20))
    await desk.clock_due(middle, timedelta(hours=2))
    # A paused clock has no deadline: its ticket sorts with those without a clock.
    await desk.clock_due(none_2, timedelta(hours=2), metric="resolution")
    await desk.pause(none_2, metric="resolution")
    expected = [overdue, soon, middle, late, none_1, none_2, none_3]
    for limit in (1, 2, 3, 7, 50):
        assert await desk.listed(sort="sla", limit=limit) == expected
    assert await desk.listed(sort="created", limit=2) == [
        none_1,
        late,
        soon,
        none_2,
        overdue,
        middle,
        none_3,
    ]
    assert await desk.listed(limit=3) == await desk.listed(sort="created", limit=3)


async def test_equal_deadlines_page_in_creation_order(desk: Desk) -> None:
    tickets = [await desk.open() for _ in range(5)]
    for ticket in tickets:
        await desk.clock_due(ticket, timedelta(hours=1))
    assert await desk.listed(sort="sla", limit=2) == tickets


async def test_a_cursor_keeps_the_sort_it_was_made_for(desk: Desk) -> None:
    for _ in range(3):
        await desk.open()
    async with desk.client() as client:
        created = (await client.get("/v1/tickets", params={"limit": 1})).json()["next_cursor"]
        by_sla = (await client.get("/v1/tickets", params={"limit": 1, "sort": "sla"})).json()[
            "next_cursor"
        ]
        crossed = [
            await client.get("/v1/tickets", params={"cursor": created, "sort": "sla"}),
            await client.get("/v1/tickets", params={"cursor": by_sla}),
        ]
    for response in crossed:
        assert_problem(response, "cursor")


def assert_problem(response: httpx.Response, field_name: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field_name in {item["field"] for item in response.json()["errors"]}, response.text


@pytest.mark.parametrize(
    ("params", "field_name"),
    [
        ({"sla": "soon"}, "sla"),
        ({"sort": "priority"}, "sort"),
        ({"unassigned": "maybe"}, "unassigned"),
        ({"q": ""}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"q": "a\u202eb"}, "q"),
        ({"q": "a\x1bb"}, "q"),
        ({"team": "t" * 101}, "team"),
        ({"team": ""}, "team"),
        ({"cursor": "bm90IGEgY3Vyc29y", "sort": "sla"}, "cursor"),
    ],
)
async def test_bad_parameters_are_refused_naming_the_parameter(
    desk: Desk, params: dict[str, str], field_name: str
) -> None:
    async with desk.client() as client:
        assert_problem(await client.get("/v1/tickets", params=params), field_name)


async def test_another_tenant_s_tickets_are_never_listed_or_counted(desk: Desk) -> None:
    ours = await desk.open(subject="Shared words")
    theirs = await desk.open(tenant="globex", subject="Shared words")
    await desk.classify(theirs, "billing", tenant="globex")
    await desk.clock_due(theirs, timedelta(minutes=5), tenant="globex")
    await desk.classify(ours, "billing")
    for params in ({"q": "shared"}, {"team": "billing"}, {"sort": "sla"}, {"unassigned": "true"}):
        assert await desk.listed(**params) == [ours]
    assert await desk.listed(sla="at_risk") == []
    async with desk.client(role="lead") as lead:
        report = (await lead.get("/v1/reports/backlog")).json()
    assert (report["open"], report["at_risk"]) == (1, 0)
    assert report["by_team"] == [
        {
            "team": "billing",
            "open": 1,
            "by_priority": {"urgent": 0, "high": 0, "normal": 1, "low": 0},
        }
    ]


async def test_the_backlog_counts_open_tickets_by_priority_status_and_team(desk: Desk) -> None:
    urgent = await desk.open(priority="urgent")
    high = await desk.open(priority="high")
    normal = await desk.open()
    low = await desk.open(priority="low")
    solved = await desk.open(priority="urgent")
    await desk.classify(urgent, "billing")
    await desk.classify(high, "billing")
    await desk.classify(solved, "billing")
    await desk.classify(low, "tech")
    await desk.assign(urgent)
    await desk.assign(high)
    await desk.clock_due(urgent, timedelta(minutes=-1))
    await desk.breach(urgent)
    await desk.clock_due(high, timedelta(minutes=45))
    await desk.clock_due(solved, timedelta(minutes=45))
    await desk.clock_due(normal, timedelta(hours=5))
    async with desk.client() as client:
        for ticket, status in ((solved, "solved"), (low, "pending")):
            changed = await client.patch(f"/v1/tickets/{ticket}", json={"status": status})
            assert changed.status_code == 200, changed.text
    async with desk.client(role="lead") as lead:
        response = await lead.get("/v1/reports/backlog")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "generated_at": "2026-03-02T09:00:00Z",
        "open": 4,
        "unassigned": 2,
        "breached": 1,
        "at_risk": 1,
        "by_priority": {"urgent": 1, "high": 1, "normal": 1, "low": 1},
        # Assignment made the two assigned tickets open.
        "by_status": {"new": 1, "open": 2, "pending": 1, "on_hold": 0, "solved": 1, "closed": 0},
        "by_team": [
            {
                "team": "billing",
                "open": 2,
                "by_priority": {"urgent": 1, "high": 1, "normal": 0, "low": 0},
            },
            {
                "team": "tech",
                "open": 1,
                "by_priority": {"urgent": 0, "high": 0, "normal": 0, "low": 1},
            },
            {
                "team": None,
                "open": 1,
                "by_priority": {"urgent": 0, "high": 0, "normal": 1, "low": 0},
            },
        ],
    }


async def test_an_empty_tenant_has_an_all_zero_backlog(desk: Desk) -> None:
    async with desk.client(role="admin") as admin:
        report = (await admin.get("/v1/reports/backlog")).json()
    assert report["open"] == 0 and report["by_team"] == []
    assert set(report["by_status"].values()) == {0} and len(report["by_status"]) == 6
    assert report["by_priority"] == {"urgent": 0, "high": 0, "normal": 0, "low": 0}


async def test_only_leads_admins_and_report_keys_read_the_backlog(desk: Desk) -> None:
    async with (
        desk.client(role="agent") as agent,
        desk.client(scopes=("tickets:read", "tickets:write")) as ticket_key,
        desk.client(scopes=("reports:read",)) as report_key,
    ):
        refused = await agent.get("/v1/reports/backlog")
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert (await ticket_key.get("/v1/reports/backlog")).status_code == 403
        assert (await report_key.get("/v1/reports/backlog")).status_code == 200


async def test_the_backlog_is_documented_with_an_example(desk: Desk) -> None:
    async with desk.client() as client:
        document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/v1/reports/backlog"]["get"]
    assert operation["x-helpline-permission"] == "reports.read"
    schema = document["components"]["schemas"]["BacklogOut"]
    assert schema["examples"][0]["by_team"][0]["team"] == "billing"
    assert all(prop.get("description") for prop in schema["properties"].values())
    listed = {item["name"] for item in document["paths"]["/v1/tickets"]["get"]["parameters"]}
    assert {"unassigned", "team", "sla", "q", "sort"} <= listed


async def test_the_backlog_is_counted_by_grouped_queries(desk: Desk) -> None:
    for _ in range(30):
        await desk.open()
    statements: list[str] = []

    def note(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa.event.listen(desk.runtime.engine.sync_engine, "before_cursor_execute", note)
    try:
        async with desk.client(role="lead") as lead:
            assert (await lead.get("/v1/reports/backlog")).json()["open"] == 30
    finally:
        sa.event.remove(desk.runtime.engine.sync_engine, "before_cursor_execute", note)
    reads = [item for item in statements if "FROM tickets" in item]
    assert len(reads) == 1 and "GROUP BY" in reads[0]

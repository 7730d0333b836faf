"""The lead's dashboard: figures from the report endpoints, formatted, and reassigning a ticket."""

import json
import re
from typing import Any

import httpx
from workspace_support import FakeServices, csrf_of, sign_in, workspace

from helpline_workspace.pages.lead import human_duration, percent

BACKLOG = {
    "generated_at": "2026-11-30T12:00:00Z",
    "open": 7,
    "unassigned": 2,
    "breached": 1,
    "at_risk": 3,
    "by_priority": {"urgent": 1, "high": 2, "normal": 3, "low": 1},
    "by_status": {"new": 2, "open": 5},
    "by_team": [
        {
            "team": "billing",
            "open": 4,
            "by_priority": {"urgent": 1, "high": 1, "normal": 2, "low": 0},
        },
        {"team": None, "open": 3, "by_priority": {"urgent": 0, "high": 1, "normal": 1, "low": 1}},
    ],
}
AGENTS = {
    "generated_at": "2026-11-30T12:00:00Z",
    "agents": [
        {
            "agent_id": "agt_1",
            "user_id": "usr_1",
            "name": "Ann Agent",
            "teams": ["billing"],
            "presence": "available",
            "load": {"email": 2},
            "capacity": {"email": 5},
            "last_seen": "2026-11-30T11:59:00Z",
        },
        {
            "agent_id": "agt_2",
            "user_id": "usr_2",
            "name": "Bob Agent",
            "teams": [],
            "presence": "away",
            "load": {},
            "capacity": {"email": 5},
            "last_seen": None,
        },
    ],
    "by_presence": {"available": 1, "away": 1, "offline": 0},
}


def sla(days: int) -> dict[str, Any]:
    """An SLA report with one metric that has no completed clocks."""
    return {
        "generated_at": "2026-11-30T12:00:00Z",
        "days": days,
        "metrics": {
            "first_response": {
                "met": 9,
                "breached": 1,
                "running": 2,
                "attainment": 0.9125,
                "median_seconds": 4800.0,
                "p90_seconds": 90061.0,
            },
            "resolution": {
                "met": 0,
                "breached": 0,
                "running": 4,
                "attainment": None,
                "median_seconds": None,
                "p90_seconds": None,
            },
        },
    }


def reports(fake: FakeServices) -> None:
    """Answer the three report endpoints."""
    fake.route("GET", "intake", "/v1/reports/backlog", lambda request: BACKLOG)
    fake.route(
        "GET", "escalation", "/v1/reports/sla", lambda request: sla(int(request.url.params["days"]))
    )
    fake.route("GET", "routing", "/v1/reports/agents", lambda request: AGENTS)


def figures(html: str) -> dict[str, tuple[Any, str]]:
    """``data-figure`` name → (raw value, shown text) of every figure on the page."""
    found = re.findall(r'data-figure="([^"]+)" data-value="([^"]*)">([^<]*)<', html)
    return {
        name: (json.loads(value.replace("&#34;", '"').replace("&quot;", '"')), text)
        for name, value, text in found
    }


def test_durations_and_percentages_read_like_a_person_wrote_them() -> None:
    assert human_duration(4800) == "1 h 20 min"
    assert human_duration(7200) == "2 h"
    assert human_duration(45) == "45 s"
    assert human_duration(90061) == "1 d 1 h"
    assert human_duration(None) == "—"
    assert percent(0.9125) == "91.3 %"
    assert percent(1) == "100.0 %"
    assert percent(None) == "—"


def test_the_dashboard_shows_every_report_figure_formatted() -> None:
    fake = FakeServices()
    fake.person("lena@acme.example", role="lead")
    reports(fake)
    with workspace(fake) as client:
        sign_in(client, "lena@acme.example")
        page = client.get("/dashboard")
        assert page.status_code == 200
        shown = figures(page.text)
        assert shown["backlog.open"] == (7, "7")
        assert shown["backlog.at_risk"] == (3, "3")
        assert shown["backlog.priority.high"] == (2, "2")
        assert shown["backlog.team.billing.priority.urgent"] == (1, "1")
        assert shown["backlog.team.(none).open"] == (3, "3")
        for days in (7, 30):
            assert shown[f"sla.{days}.first_response.attainment"] == (0.9125, "91.3 %")
            assert shown[f"sla.{days}.first_response.median_seconds"] == (4800.0, "1 h 20 min")
            assert shown[f"sla.{days}.first_response.p90_seconds"] == (90061.0, "1 d 1 h")
            assert shown[f"sla.{days}.resolution.attainment"] == (None, "—")
            assert shown[f"sla.{days}.resolution.median_seconds"] == (None, "—")
        assert shown["agents.presence.away"] == (1, "1")
        assert shown["agent.agt_1.load"] == ({"email": 2}, "email 2")
        assert shown["agent.agt_1.presence"] == ("available", "Available")
        assert [
            call.request.url.params["days"] for call in fake.calls if call.path == "/v1/reports/sla"
        ] == ["7", "30"]
        assert '<th scope="col">Attainment</th>' in page.text
        assert "<caption>Last 30 days</caption>" in page.text


def test_an_agent_opening_the_dashboard_gets_a_readable_403_page() -> None:
    fake = FakeServices()
    fake.person("kim@acme.example", role="agent")
    reports(fake)
    with workspace(fake) as client:
        sign_in(client, "kim@acme.example")
        page = client.get("/dashboard")
        assert page.status_code == 403
        assert "Only team leads and admins can open this page." in page.text
        assert not [call for call in fake.calls if "/reports/" in call.path]


def test_reassigning_puts_the_assignment_at_routing_and_says_so() -> None:
    fake = FakeServices()
    fake.person("lena@acme.example", role="lead")
    reports(fake)
    sent: list[dict[str, Any]] = []

    def assign(request: httpx.Request) -> dict[str, Any]:
        sent.append(json.loads(request.read()))
        return {"ticket_id": "t-1", "agent_id": "agt_2", "state": "assigned"}

    fake.route("PUT", "routing", "/v1/tickets/t-1/assignment", assign)
    with workspace(fake) as client:
        sign_in(client, "lena@acme.example")
        form = client.get("/dashboard").text
        assert 'name="csrf_token"' in form and 'action="/dashboard/assign"' in form
        assert '<option value="agt_2">Bob Agent' in form
        answer = client.post(
            "/dashboard/assign",
            data={
                "ticket_id": "t-1",
                "agent_id": "agt_2",
                "csrf_token": csrf_of(client, "/dashboard"),
            },
        )
        assert answer.status_code == 303
        assert sent == [{"agent_id": "agt_2", "exceed_capacity": False}]
        assert "Ticket t-1 is now assigned to Bob Agent." in client.get("/dashboard").text


def test_a_refused_reassignment_is_said_next_to_the_form() -> None:
    fake = FakeServices()
    fake.person("lena@acme.example", role="lead")
    reports(fake)
    fake.route(
        "PUT",
        "routing",
        "/v1/tickets/t-1/assignment",
        lambda request: httpx.Response(
            409,
            json={
                "title": "Conflict",
                "detail": "the agent has no capacity left on the "
                "ticket's channel; set exceed_capacity to override",
            },
        ),
    )
    with workspace(fake) as client:
        sign_in(client, "lena@acme.example")
        answer = client.post(
            "/dashboard/assign",
            data={
                "ticket_id": "t-1",
                "agent_id": "agt_2",
                "csrf_token": csrf_of(client, "/dashboard"),
            },
        )
        assert answer.status_code == 409
        assert "The ticket was not reassigned: the agent has no capacity left" in answer.text
        assert 'value="t-1"' in answer.text  # what was typed is kept
        bad = client.post(
            "/dashboard/assign",
            data={
                "ticket_id": "../x",
                "agent_id": "agt_2",
                "csrf_token": csrf_of(client, "/dashboard"),
            },
        )
        assert bad.status_code == 422
        assert "Ticket id: enter the id of a ticket" in bad.text


def test_reassigning_without_the_csrf_token_is_refused() -> None:
    fake = FakeServices()
    fake.person("lena@acme.example", role="lead")
    reports(fake)
    with workspace(fake) as client:
        sign_in(client, "lena@acme.example")
        answer = client.post("/dashboard/assign", data={"ticket_id": "t-1", "agent_id": "a"})
        assert answer.status_code == 403
        assert not [call for call in fake.calls if call.method == "PUT"]


def test_one_report_down_leaves_the_others_and_reassigning_still_works() -> None:
    fake = FakeServices()
    fake.person("lena@acme.example", role="lead")
    reports(fake)
    fake.route(
        "GET",
        "routing",
        "/v1/reports/agents",
        lambda request: httpx.Response(500, json={"title": "Internal Server Error"}),
    )
    fake.route(
        "PUT",
        "routing",
        "/v1/tickets/t-1/assignment",
        lambda request: {"ticket_id": "t-1", "agent_id": "agt_7"},
    )
    with workspace(fake) as client:
        sign_in(client, "lena@acme.example")
        page = client.get("/dashboard")
        assert page.status_code == 200
        assert (
            "The agents report is unavailable: The routing service had a problem; "
            "please try again in a moment."
        ) in page.text
        assert figures(page.text)["backlog.open"] == (7, "7")
        assert "type the agent's id" in page.text
        answer = client.post(
            "/dashboard/assign",
            data={
                "ticket_id": "t-1",
                "agent_id": "agt_7",
                "csrf_token": csrf_of(client, "/dashboard"),
            },
        )
        assert answer.status_code == 303
        assert "Ticket t-1 is now assigned to agt_7." in client.get("/dashboard").text

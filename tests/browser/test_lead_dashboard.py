"""The lead's dashboard in a real browser: its figures equal the report endpoints, a ticket is
reassigned from it, and an agent is told plainly that it is not for them."""

import json
import time
from typing import Any

from browser_support import axe_check, signed_in
from playwright.sync_api import Page, expect

from helpline_devstack.journeys import Helpline
from helpline_devstack.testing import unique_name, wait_until
from helpline_workspace.pages.lead import human_duration, percent

PRIORITIES = ("urgent", "high", "normal", "low")


def ticket(helpline: Helpline, skill: str, priority: str) -> dict[str, Any]:
    """A new ticket needing ``skill`` (the default routing rules make tags skills)."""
    created: dict[str, Any] = helpline.admin(
        "POST",
        "intake",
        "/v1/tickets",
        {
            "subject": f"Dashboard {priority} {skill}",
            "description": "Figures, please.",
            "requester": {"email": f"{skill}@customer.example", "name": "Dana Customer"},
            "priority": priority,
            "tags": [skill],
        },
    )
    return created


def expected_figures(helpline: Helpline) -> dict[str, Any]:
    """Every figure the dashboard shows, by its ``data-figure`` name, read from the endpoints."""
    backlog = helpline.admin("GET", "intake", "/v1/reports/backlog")
    figures: dict[str, Any] = {
        f"backlog.{name}": backlog[name] for name in ("open", "unassigned", "breached", "at_risk")
    }
    figures["backlog.open.total"] = backlog["open"]
    for priority in PRIORITIES:
        figures[f"backlog.priority.{priority}"] = backlog["by_priority"].get(priority, 0)
    for row in backlog["by_team"]:
        team = row["team"] if row["team"] is not None else "(none)"
        figures[f"backlog.team.{team}.open"] = row["open"]
        for priority in PRIORITIES:
            figures[f"backlog.team.{team}.priority.{priority}"] = row["by_priority"].get(
                priority, 0
            )
    for days in (7, 30):
        sla = helpline.admin("GET", "escalation", "/v1/reports/sla", params={"days": str(days)})
        assert sla["days"] == days
        for metric in ("first_response", "resolution"):
            for name in (
                "attainment",
                "met",
                "breached",
                "running",
                "median_seconds",
                "p90_seconds",
            ):
                figures[f"sla.{days}.{metric}.{name}"] = sla["metrics"][metric][name]
    agents = helpline.admin("GET", "routing", "/v1/reports/agents")
    for presence in ("available", "away", "offline"):
        figures[f"agents.presence.{presence}"] = agents["by_presence"].get(presence, 0)
    for agent in agents["agents"]:
        for name in ("presence", "load", "capacity"):
            figures[f"agent.{agent['agent_id']}.{name}"] = agent[name]
    return figures


def shown_figures(page: Page) -> dict[str, tuple[Any, str]]:
    """``data-figure`` name → (raw value, text shown) of every figure on the page."""
    found = page.locator("[data-figure]").evaluate_all(
        "nodes => nodes.map(n => [n.dataset.figure, n.dataset.value, n.textContent.trim()])"
    )
    return {name: (json.loads(value), text) for name, value, text in found}


def test_a_leads_dashboard_figures_equal_the_report_endpoints(
    page: Page, helpline: Helpline
) -> None:
    skill = unique_name("dash").replace("_", "-")
    lead = helpline.person("lead", "Lena Lead")
    helpline.person("agent", "Dora Dashboard", skills={skill: 1})
    made = [ticket(helpline, skill, priority) for priority in ("urgent", "high", "normal")]
    wait_until(
        lambda: helpline.admin("GET", "intake", "/v1/reports/backlog")["open"] >= len(made),
        15,
        "the new tickets in the backlog report",
    )

    signed_in(page, helpline, lead)
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Team dashboard", level=1)).to_be_visible()
    axe_check(page)

    # The reports move while routing and escalation handle the new tickets: compare a page
    # and the endpoints read together, until both have settled on the same figures.
    deadline = time.monotonic() + 20
    while True:
        page.reload()
        shown = shown_figures(page)
        expected = expected_figures(helpline)
        if {name: value for name, (value, _) in shown.items()} == expected:
            break
        if time.monotonic() > deadline:
            assert {name: value for name, (value, _) in shown.items()} == expected
        time.sleep(0.5)

    assert expected["backlog.open"] >= len(made)
    assert expected["backlog.priority.urgent"] >= 1
    for name, (value, text) in shown.items():
        if name.endswith("attainment"):
            assert text == percent(value), name
        elif name.endswith("_seconds"):
            assert text == human_duration(value), name
        elif value is None:
            assert text == "—", name
        elif isinstance(value, int):
            assert text == str(value), name
    expect(page.get_by_role("table", name="Last 7 days")).to_be_visible()
    expect(page.get_by_role("table", name="Last 30 days")).to_be_visible()


def test_a_lead_reassigns_a_ticket_from_the_dashboard(page: Page, helpline: Helpline) -> None:
    skill = unique_name("move").replace("_", "-")
    lead = helpline.person("lead", "Lars Lead")
    first = helpline.person("agent", "Fay First", skills={skill: 1})
    second = helpline.person("agent", "Sam Second", skills={skill: 1}, available=False)
    made = ticket(helpline, skill, "high")

    def assigned_to_first() -> bool:
        routed = helpline.call(
            helpline.admin_key, "GET", "routing", f"/v1/tickets/{made['id']}/routing"
        )
        return routed.status_code == 200 and routed.json()["agent_id"] == first["agent_id"]

    wait_until(assigned_to_first, 20, "the ticket assigned to the first agent")

    signed_in(page, helpline, lead)
    page.goto(helpline.url("workspace") + "/dashboard")
    page.get_by_label("Ticket id").fill(made["id"])
    page.get_by_label("Agent", exact=True).select_option(second["agent_id"])
    page.get_by_label("Assign even when the agent has no capacity left").check()
    page.get_by_role("button", name="Reassign").click()
    expect(page.get_by_text(f"Ticket {made['id']} is now assigned to Sam Second.")).to_be_visible()
    routed = helpline.admin("GET", "routing", f"/v1/tickets/{made['id']}/routing")
    assert routed["agent_id"] == second["agent_id"]

    page.get_by_label("Ticket id").fill("no-such-ticket")
    page.get_by_label("Agent", exact=True).select_option(second["agent_id"])
    page.get_by_role("button", name="Reassign").click()
    expect(page.get_by_role("alert")).to_contain_text("The ticket was not reassigned: Not found")
    axe_check(page)


def test_an_agent_opening_the_dashboard_gets_a_readable_403_page(
    page: Page, helpline: Helpline
) -> None:
    agent = helpline.person("agent", "Ari Agent")
    signed_in(page, helpline, agent)
    expect(page.get_by_role("link", name="Dashboard")).to_have_count(0)
    answer = page.goto(helpline.url("workspace") + "/dashboard")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("heading", name="Not allowed", level=1)).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text("Only team leads and admins can open this page.")
    axe_check(page)

"""Live updates in a real browser: new work appears on My work without a reload, and presence
set in the header reaches routing (and comes back as an event)."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from browser_support import axe_check, signed_in
from playwright.sync_api import Page, expect

from helpline_devstack.journeys import Helpline
from helpline_devstack.testing import TopicRecorder, unique_name, wait_until
from helpline_shared.events import AgentPresenceChanged
from helpline_shared.topics import ROUTING

PRESENCE_CHANGED = AgentPresenceChanged.event_type


@pytest.fixture
def routing_events(helpline: Helpline) -> Iterator[TopicRecorder]:
    prefix = helpline.stack.environment["HELPLINE_TOPIC_PREFIX"]
    with TopicRecorder(helpline.stack.kafka_bootstrap_servers, [prefix + ROUTING]) as recorder:
        yield recorder


def new_ticket(helpline: Helpline, skill: str, subject: str) -> dict[str, Any]:
    ticket: dict[str, Any] = helpline.admin(
        "POST",
        "intake",
        "/v1/tickets",
        {
            "subject": subject,
            "description": "It stopped working this morning.",
            "requester": {"email": "cy@example.org", "name": "Cy Customer"},
            "priority": "high",
            "type": "corrective",
            "tags": [skill],
        },
    )
    return ticket


def live(page: Page) -> Page:
    """Wait until the page's event stream is open (events after this reach it)."""
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    return page


def test_a_new_assignment_appears_on_my_work_without_a_reload(
    page: Page, helpline: Helpline
) -> None:
    skill = unique_name("live")
    agent = helpline.person("agent", "Lee Live", skills={skill: 5})
    live(signed_in(page, helpline, agent))
    page.evaluate("window.notReloaded = true")

    ticket = new_ticket(helpline, skill, "Printer on fire")

    notice = page.get_by_role("status").filter(has_text="New ticket assigned")
    expect(notice).to_contain_text("Printer on fire")
    expect(notice.get_by_role("link", name="Printer on fire")).to_have_attribute(
        "href", f"/tickets/{ticket['id']}"
    )
    assert page.evaluate("window.notReloaded") is True
    axe_check(page)


def test_a_new_offer_appears_on_my_work_without_a_reload(page: Page, helpline: Helpline) -> None:
    skill = unique_name("offer")
    agent = helpline.person("agent", "Olu Offer", skills={skill: 5}, auto_accept=False)
    live(signed_in(page, helpline, agent))
    page.evaluate("window.notReloaded = true")

    new_ticket(helpline, skill, "Invoice missing")

    notice = page.get_by_role("status").filter(has_text="New offer")
    expect(notice).to_contain_text("Invoice missing")
    assert page.evaluate("window.notReloaded") is True
    axe_check(page)


def test_presence_set_in_the_header_reaches_routing_as_an_event(
    page: Page, helpline: Helpline, routing_events: TopicRecorder
) -> None:
    agent = helpline.person("agent", "Pat Presence", skills={unique_name("presence"): 1})
    live(signed_in(page, helpline, agent))
    presence = page.get_by_label("Presence")
    expect(presence).to_have_value("available")
    axe_check(page)

    presence.select_option("away")

    def routing_presence() -> str:
        found: dict[str, Any] = helpline.admin("GET", "routing", f"/v1/agents/{agent['agent_id']}")
        return str(found["presence"])

    wait_until(lambda: routing_presence() == "away", 10, "routing has the agent away")

    def went_away() -> list[dict[str, Any]]:
        found = [json.loads(r.value or b"{}") for r in routing_events.events(PRESENCE_CHANGED)]
        return [
            event
            for event in found
            if event.get("agent_id") == agent["agent_id"] and event["presence"] == "away"
        ]

    [changed] = wait_until(went_away, 15, "AgentPresenceChanged (away) on helpline.routing")
    assert changed["previous"] == "available"
    assert changed["reason"] == "person"
    assert changed["user_id"] == agent["user_id"]


def test_presence_changed_elsewhere_shows_live_in_the_header(
    page: Page, helpline: Helpline
) -> None:
    agent = helpline.person("agent", "Rae Remote", skills={unique_name("remote"): 1})
    live(signed_in(page, helpline, agent))
    expect(page.get_by_label("Presence")).to_have_value("available")

    token = helpline.sign_in(agent["email"])
    answer = helpline.call(
        token, "PUT", "routing", f"/v1/agents/{agent['agent_id']}/presence", {"status": "offline"}
    )
    assert answer.status_code == 200, answer.text

    expect(page.get_by_label("Presence")).to_have_value("offline", timeout=15_000)


def test_a_person_without_an_agent_sees_no_presence_control(page: Page, helpline: Helpline) -> None:
    lead = helpline.person("lead", "Lou Lead")
    live(signed_in(page, helpline, lead))
    expect(page.get_by_label("Presence")).to_have_count(0)


def test_an_idle_page_sets_its_agent_away_and_says_why(page: Page, helpline: Helpline) -> None:
    agent = helpline.person("agent", "Ivy Idle", skills={unique_name("idle"): 1})
    page.clock.install()  # the page's timers run on a clock the test can move
    live(signed_in(page, helpline, agent))
    expect(page.get_by_label("Presence")).to_have_value("available")

    page.clock.fast_forward("09:00")  # nine minutes without keyboard or mouse: still there
    expect(page.get_by_label("Presence")).to_have_value("available")
    page.clock.fast_forward("02:00")

    expect(page.get_by_label("Presence")).to_have_value("away")
    expect(page.get_by_text("Set to away after 10 minutes without activity.")).to_be_visible()
    found: dict[str, Any] = helpline.admin("GET", "routing", f"/v1/agents/{agent['agent_id']}")
    assert found["presence"] == "away"
    axe_check(page)


def test_an_open_page_in_use_sends_heartbeats_to_routing(page: Page, helpline: Helpline) -> None:
    agent = helpline.person("agent", "Hal Heartbeat", skills={unique_name("beat"): 1})
    page.clock.install()
    live(signed_in(page, helpline, agent))
    expect(page.get_by_label("Presence")).to_have_value("available")

    def last_activity() -> Any:
        return helpline.admin("GET", "routing", f"/v1/agents/{agent['agent_id']}")[
            "last_activity_at"
        ]

    before = last_activity()
    page.mouse.move(10, 10)
    page.clock.fast_forward("01:01")
    wait_until(lambda: last_activity() != before, 10, "a heartbeat at routing")

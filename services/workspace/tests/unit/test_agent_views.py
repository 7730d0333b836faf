"""The agent pages' rules as plain functions: SLA badges in words, the order of My work."""

from datetime import UTC, datetime, timedelta

from helpline_workspace.pages.agent_views import (
    TicketFilters,
    by_next_deadline,
    duration,
    metric_badge,
    tags_of,
    ticket_badge,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def clock(state: str, hours: float | None = None) -> dict[str, object]:
    deadline = (NOW + timedelta(hours=hours)).isoformat() if hours is not None else None
    return {"state": state, "deadline": deadline}


def test_a_badge_says_time_left_at_risk_breached_paused_and_met_in_words() -> None:
    assert metric_badge(clock("running", 26), NOW).text == "1 d 2 h left"
    assert metric_badge(clock("running", 2.5), NOW).text == "2 h 30 min left"
    assert metric_badge(clock("running", 0.25), NOW).text == "At risk: 15 min left"
    assert metric_badge(clock("running", -0.1), NOW).text == "Overdue"
    assert metric_badge(clock("breached", -1), NOW).text == "Breached"
    assert metric_badge(clock("paused"), NOW).text == "Paused"
    assert metric_badge(clock("met", 1), NOW).text == "Met"


def test_a_ticket_badge_puts_a_breach_first_then_the_soonest_running_clock() -> None:
    assert ticket_badge({}, NOW).text == "No SLA"
    assert ticket_badge(
        {"first_response": clock("met", 1), "resolution": clock("running", 5)}, NOW
    ).text == ("Resolution: 5 h 00 min left")
    assert ticket_badge(
        {"next_response": clock("running", 1.5), "resolution": clock("breached", -1)}, NOW
    ).text == ("Breached: resolution")
    assert (
        ticket_badge({"first_response": clock("met", 1), "resolution": clock("paused")}, NOW).text
        == "Resolution: paused"
    )
    assert ticket_badge({"first_response": clock("met", 1)}, NOW).css == "met"


def test_my_work_order_is_the_next_deadline_with_breaches_first_and_none_last() -> None:
    tickets = [
        {"id": "none", "sla": {"first_response": clock("paused")}, "created_at": "1"},
        {"id": "later", "sla": {"first_response": clock("running", 4)}, "created_at": "2"},
        {
            "id": "intake-says",
            "next_deadline": (NOW + timedelta(hours=2)).isoformat(),
            "sla": {},
            "created_at": "3",
        },
        {"id": "breached", "sla": {"resolution": clock("breached", -3)}, "created_at": "4"},
    ]
    assert [t["id"] for t in by_next_deadline(tickets)] == [
        "breached",
        "intake-says",
        "later",
        "none",
    ]


def test_filters_keep_known_values_and_build_a_shareable_url() -> None:
    filters = TicketFilters.of(
        {"status": "open", "priority": "nope", "unassigned": "on", "q": " a  b ", "sort": "created"}
    )
    assert filters.params() == {"q": "a b", "status": "open", "unassigned": "true"}
    assert filters.url("c 1") == "/tickets?q=a+b&status=open&unassigned=true&cursor=c+1"
    assert filters.active and not TicketFilters.of({"sort": "sla"}).active


def test_tags_and_durations_read_as_typed() -> None:
    assert tags_of(" VIP, exports  vip,,billing ") == ["vip", "exports", "billing"]
    assert duration(59) == "0 min" and duration(3600 * 49) == "2 d 1 h"

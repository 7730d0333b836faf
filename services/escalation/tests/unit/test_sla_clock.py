"""The SLA clock's rules, on plain data."""

from datetime import UTC, datetime, timedelta

import pytest
from escalation_support import message_added

from helpline_escalation.domain.model import SlaClock, is_first_response
from helpline_escalation.domain.policy import describe_duration
from helpline_shared.events import AuthorRole

CREATED_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def started_clock(target_seconds: int = 14_400) -> SlaClock:
    clock, _ = SlaClock.start_first_response(
        tenant_id="acme", ticket_id="t-1", priority="high", target_seconds=target_seconds,
        started_at=CREATED_AT,
    )
    return clock


def test_starting_sets_the_deadline_from_the_target_and_explains_it() -> None:
    clock, started = SlaClock.start_first_response(
        tenant_id="acme", ticket_id="t-1", priority="high", target_seconds=14_400,
        started_at=CREATED_AT,
    )
    assert clock.state == "running"
    assert clock.version == 1
    assert clock.deadline == CREATED_AT + timedelta(hours=4)
    assert started.deadline == clock.deadline
    assert started.clock_version == 1
    assert started.reason == "first response target for high priority: 4h"


def test_stopping_a_running_clock_meets_it_and_makes_its_timer_stale() -> None:
    clock = started_clock()
    replied_at = CREATED_AT + timedelta(minutes=30)
    stopped, events = clock.stop(at=replied_at, reason="first public agent reply")
    assert stopped.state == "met"
    assert stopped.stopped_at == replied_at
    assert stopped.version == 2
    assert [(event.breached, event.clock_version) for event in events] == [(False, 2)]
    assert stopped.breach(timer_version=1) == (stopped, None)


def test_stopping_twice_changes_nothing_the_second_time() -> None:
    stopped, _ = started_clock().stop(at=CREATED_AT, reason="ticket solved")
    assert stopped.stop(at=CREATED_AT + timedelta(hours=1), reason="ticket closed") == (stopped, [])


def test_breach_happens_at_the_deadline_once() -> None:
    clock = started_clock(target_seconds=2)
    breached, event = clock.breach(timer_version=1)
    assert breached.state == "breached"
    assert breached.breached_at == clock.deadline
    assert event is not None
    assert event.occurred_at == clock.deadline
    assert event.reason == "no first response within 2s of the ticket's creation"
    assert breached.breach(timer_version=1) == (breached, None)


def test_breach_of_another_version_is_ignored() -> None:
    clock = started_clock()
    assert clock.breach(timer_version=2) == (clock, None)


def test_stopping_a_breached_clock_reports_it_missed() -> None:
    breached, _ = started_clock().breach(timer_version=1)
    stopped, events = breached.stop(at=CREATED_AT + timedelta(hours=5), reason="agent reply")
    assert stopped.state == "breached"
    assert stopped.stopped_at == CREATED_AT + timedelta(hours=5)
    assert [event.breached for event in events] == [True]


def test_breach_timer_id_names_the_ticket_metric_and_version() -> None:
    clock = started_clock()
    assert clock.breach_timer_id == "acme:t-1:first_response:breach:v1"


@pytest.mark.parametrize(
    ("author_role", "public", "auto_reply", "answers"),
    [
        ("agent", True, False, True),
        ("agent", False, False, False),
        ("agent", True, True, False),
        ("requester", True, False, False),
        ("system", True, False, False),
    ],
)
def test_only_a_public_human_agent_reply_is_a_first_response(
    author_role: AuthorRole, public: bool, auto_reply: bool, answers: bool
) -> None:
    message = message_added(author_role=author_role, public=public, auto_reply=auto_reply)
    assert is_first_response(message) is answers


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (2, "2s"), (90, "1m30s"), (3_600, "1h"), (14_400, "4h"), (86_400, "1d"),
     (93_600, "1d2h")],
)
def test_durations_read_compactly(seconds: int, text: str) -> None:
    assert describe_duration(seconds) == text

"""The SLA clock's rules on plain data: versions, once-only breaches, pauses on a calendar."""

from datetime import UTC, datetime, time, timedelta

import pytest
from escalation_support import message_added

from helpline_escalation.domain.calendar import BusinessCalendar, WorkingInterval
from helpline_escalation.domain.model import SlaClock, is_first_response
from helpline_escalation.domain.policy import (
    DEFAULT_FIRST_RESPONSE_TARGETS,
    MetricPolicy,
    SlaPolicy,
    default_policy,
    describe_duration,
)
from helpline_shared.events import AuthorRole

CREATED_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
POLICY = default_policy(DEFAULT_FIRST_RESPONSE_TARGETS)
RULES = MetricPolicy("first_response", DEFAULT_FIRST_RESPONSE_TARGETS)


def started_clock(target_seconds: int = 14_400, policy: SlaPolicy = POLICY) -> SlaClock:
    clock, _ = SlaClock.start(
        tenant_id="acme",
        ticket_id="t-1",
        policy=policy,
        rules=RULES,
        target_seconds=target_seconds,
        at=CREATED_AT,
        reason="ticket created",
        priority="high",
    )
    return clock


def test_stopping_meets_the_clock_and_makes_its_timers_stale() -> None:
    stopped, [_stopped_event] = started_clock().stop(
        at=CREATED_AT + timedelta(minutes=30), reason="first public agent reply"
    )
    assert (stopped.status, stopped.version) == ("met", 2)
    assert stopped.fire(
        purpose="breach", timer_version=1, rules=RULES, calendar=POLICY.calendar, at=CREATED_AT
    ) == (stopped, None)


def test_stopping_twice_changes_nothing_the_second_time() -> None:
    stopped, _ = started_clock().stop(at=CREATED_AT, reason="ticket solved")
    assert stopped.stop(at=CREATED_AT + timedelta(hours=1), reason="ticket closed") == (stopped, [])


def test_breach_happens_at_the_deadline_once() -> None:
    clock = started_clock(target_seconds=2)
    breached, event = clock.fire(
        purpose="breach", timer_version=1, rules=RULES, calendar=POLICY.calendar, at=clock.deadline
    )
    assert event is not None and event.occurred_at == clock.deadline
    assert breached.breached_at == clock.deadline
    assert breached.fire(
        purpose="breach", timer_version=1, rules=RULES, calendar=POLICY.calendar, at=clock.deadline
    ) == (breached, None)


def test_a_pause_over_the_weekend_on_office_hours_moves_the_deadline_by_business_time() -> None:
    office = BusinessCalendar(
        name="office",
        time_zone="Europe/Berlin",
        weekly_hours={day: (WorkingInterval(time(9), time(17)),) for day in range(5)},
    )
    policy = SlaPolicy(
        policy_id="p",
        name="p",
        version=1,
        position=0,
        calendar=office,
        metrics={"first_response": RULES},
    )
    clock = started_clock(target_seconds=8 * 3600, policy=policy)  # Monday 10:00 Berlin
    paused, _ = clock.pause(
        at=clock.started_at + timedelta(hours=2), reason="pending", calendar=office
    )
    assert paused.elapsed_seconds == 2 * 3600
    monday_after = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)  # 09:00 Berlin
    resumed, [_resumed_event] = paused.resume(
        at=monday_after, reason="customer replied", calendar=office
    )
    assert resumed.deadline == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # 6 h of work later
    assert resumed.version == 3


@pytest.mark.parametrize(
    ("author_role", "public", "auto_reply", "expected"),
    [
        ("agent", True, False, True),
        ("agent", False, False, False),
        ("agent", True, True, False),
        ("requester", True, False, False),
        ("system", True, False, False),
    ],
)
def test_only_a_public_human_agent_reply_is_a_first_response(
    author_role: AuthorRole, public: bool, auto_reply: bool, expected: bool
) -> None:
    message = message_added(author_role=author_role, public=public, auto_reply=auto_reply)
    assert is_first_response(message) is expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(60, "1m"), (3_600, "1h"), (14_400, "4h"), (90, "1m30s"), (93_600, "1d2h"), (0, "0s")],
)
def test_durations_read_compactly(seconds: int, text: str) -> None:
    assert describe_duration(seconds) == text

"""The retry schedule, Retry-After and when notify gives up, as pure rules."""

from datetime import timedelta

import pytest
from notify_testkit import NOW

from helpline_notify.domain.model import Delivery
from helpline_notify.domain.retry import (
    MAX_ATTEMPTS,
    RETRY_SCHEDULE,
    AttemptOutcome,
    retry_delay,
    webhook_outcome,
)


def pending_delivery() -> Delivery:
    return Delivery(
        id="d1",
        tenant_id="acme",
        ticket_id="t1",
        channel="webhook",
        destination="e1",
        trigger_event_id="ev1",
        trigger_event_type="helpline.ticket.assigned.v1",
        payload="{}",
        subject=None,
        trace_headers={},
        created_at=NOW,
    )


def test_schedule_is_5s_5m_30m_2h_5h_10h_10h_then_give_up() -> None:
    assert [
        retry_delay(attempt, retry_after=None, jitter=0.0) for attempt in range(1, MAX_ATTEMPTS + 1)
    ] == [
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
        timedelta(hours=10),
        None,
    ]


@pytest.mark.parametrize("jitter", [-1.0, 1.0, -5.0, 5.0])
def test_jitter_stays_within_ten_percent(jitter: float) -> None:
    delay = retry_delay(2, retry_after=None, jitter=jitter)
    assert delay is not None
    assert timedelta(minutes=4.5) <= delay <= timedelta(minutes=5.5)


def test_retry_after_on_429_and_503_is_honoured() -> None:
    for status in (429, 503):
        outcome = webhook_outcome(status, timedelta(seconds=120))
        assert outcome.retry_after == timedelta(seconds=120)
        assert retry_delay(1, retry_after=outcome.retry_after, jitter=0.0) == timedelta(seconds=120)


def test_retry_after_never_shortens_the_schedule_nor_exceeds_a_day() -> None:
    assert retry_delay(3, retry_after=timedelta(seconds=1), jitter=0.0) == timedelta(minutes=30)
    assert retry_delay(1, retry_after=timedelta(days=9), jitter=0.0) == timedelta(hours=24)


def test_retry_after_on_other_statuses_is_ignored() -> None:
    assert webhook_outcome(500, timedelta(seconds=120)).retry_after is None


def test_2xx_succeeds_410_is_permanent_and_disables_redirects_fail() -> None:
    assert webhook_outcome(204, None).delivered
    gone = webhook_outcome(410, None)
    assert (gone.delivered, gone.permanent, gone.endpoint_gone) == (False, True, True)
    moved = webhook_outcome(302, None)
    assert (moved.delivered, moved.permanent) == (False, False)


def test_delivery_fails_for_good_after_the_last_scheduled_attempt() -> None:
    delivery = pending_delivery()
    retries = []
    for _attempt in range(MAX_ATTEMPTS):
        delivery.begin_attempt(NOW + timedelta(minutes=1))
        retries.append(delivery.record_attempt(AttemptOutcome.failure("HTTP 500"), NOW, 0.0))
    assert retries == [True] * len(RETRY_SCHEDULE) + [False]
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (
        "failed",
        MAX_ATTEMPTS,
        None,
    )


def test_first_failure_is_retried_five_seconds_later() -> None:
    delivery = pending_delivery()
    delivery.begin_attempt(NOW + timedelta(minutes=1))
    assert delivery.record_attempt(AttemptOutcome.failure("HTTP 500"), NOW, 0.0)
    assert delivery.next_attempt_at == NOW + timedelta(seconds=5)
    assert delivery.last_error == "HTTP 500"


def test_permanent_failure_is_not_retried() -> None:
    delivery = pending_delivery()
    delivery.begin_attempt(NOW)
    assert not delivery.record_attempt(webhook_outcome(410, None), NOW, 0.0)
    assert delivery.status == "failed"

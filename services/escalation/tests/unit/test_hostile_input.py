"""Hostile numbers, dates and names on escalation's edge: 422 problems, and a domain that cannot
overflow at the largest values its API accepts."""

import copy
import time as clock
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from escalation_support import TENANT, UnitOfWorkFactory
from fastapi import FastAPI

from helpline_escalation.domain.calendar import (
    HORIZON,
    BusinessCalendar,
    Holiday,
    WorkingInterval,
    horizon_of,
)
from helpline_escalation.domain.errors import InvalidSchedule
from helpline_escalation.domain.model import SlaClock
from helpline_escalation.domain.policy import (
    MAX_TARGET_SECONDS,
    EscalationLevel,
    MetricPolicy,
    SlaPolicy,
    WarningLead,
)
from helpline_escalation.domain.preventive import PreventiveSchedule, TicketTemplate
from helpline_escalation.entrypoints import http, http_preventive
from helpline_shared.runtime.auth import CredentialVerifier
from helpline_shared.runtime.problems import install_problem_handlers
from helpline_shared.runtime.testing import stand_in_identity

IDENTITY = stand_in_identity()
ADMIN = {"Authorization": f"Bearer {IDENTITY.api_key(TENANT, ('admin',))}"}
POLICY: dict[str, Any] = {
    "name": "Premium",
    "position": 0,
    "conditions": {"plans": ["premium"]},
    "calendar": {
        "name": "Berlin",
        "time_zone": "Europe/Berlin",
        "weekly_hours": {"0": [{"start": "09:00", "end": "17:00"}]},
    },
    "metrics": {"first_response": {"targets": {"high": 3600}}},
}
SCHEDULE: dict[str, Any] = {
    "cron": "0 9 1 * *",
    "ticket": {
        "subject": "Monthly check",
        "description": "Check backups",
        "requester_email": "o@a.test",
    },
}


@pytest.fixture
async def client(unit_of_work: UnitOfWorkFactory) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.state.verifier = CredentialVerifier(IDENTITY.url, IDENTITY.issuer)
    install_problem_handlers(app)
    app.include_router(http.router(unit_of_work))
    app.include_router(http_preventive.router(unit_of_work, timedelta(minutes=5)))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://escalation"
    ) as client:
        yield client


def _with(document: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``document`` with ``value`` at ``dotted`` (list items by index)."""
    changed = copy.deepcopy(document)
    *path, last = dotted.split(".")
    node: Any = changed
    for key in path:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    node[int(last) if isinstance(node, list) else last] = value
    return changed


@pytest.mark.parametrize(
    ("dotted", "value", "field"),
    [
        ("metrics.first_response.targets.high", 10**12, "metrics.first_response.targets.high"),
        (
            "metrics.first_response.targets.high",
            MAX_TARGET_SECONDS + 1,
            "metrics.first_response.targets.high",
        ),
        (
            "metrics.first_response.warnings",
            [{"seconds_left": 2**63}],
            "metrics.first_response.warnings.0.seconds_left",
        ),
        (
            "metrics.first_response.escalations",
            [{"level": 1, "offset_seconds": -(10**12)}],
            "metrics.first_response.escalations.0.offset_seconds",
        ),
        (
            "metrics.first_response.escalations",
            [{"level": 2**40}],
            "metrics.first_response.escalations.0.level",
        ),
        ("position", 2**63 - 1, "position"),
        ("name", "Premium\u202egnp.exe", "name"),
        ("name", "Pre\x00mium", "name"),
        ("calendar.name", "Berlin\u2066", "calendar.name"),
        ("conditions.plans", ["premium\r\nX-Header: 1"], "conditions.plans.0"),
        (
            "calendar.holidays",
            [{"first": "2026-01-01", "last": "9999-12-31"}],
            "calendar.holidays.0",
        ),
        (
            "calendar.holidays",
            [{"first": "2026-01-02", "last": "2026-01-01"}],
            "calendar.holidays.0",
        ),
    ],
)
async def test_an_out_of_range_or_unsafe_policy_value_is_a_422_naming_the_field(
    client: httpx.AsyncClient, dotted: str, value: Any, field: str
) -> None:
    response = await client.put(
        "/v1/sla/policies/premium", json=_with(POLICY, dotted, value), headers=ADMIN
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [error["field"] for error in response.json()["errors"]], response.json()


async def test_the_largest_accepted_target_is_stored(client: httpx.AsyncClient) -> None:
    document = _with(POLICY, "metrics.first_response.targets.high", MAX_TARGET_SECONDS)
    response = await client.put("/v1/sla/policies/premium", json=document, headers=ADMIN)
    assert response.status_code == 200, response.text


async def test_policy_limits_are_written_in_the_openapi(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    position = schemas["PolicyDocument"]["properties"]["position"]
    assert (position["minimum"], position["maximum"]) == (0, 1_000_000)
    targets = schemas["MetricDocument"]["properties"]["targets"]["additionalProperties"]
    assert targets["maximum"] == MAX_TARGET_SECONDS


@pytest.mark.parametrize(
    ("cron", "why"),
    [
        ("0 0 31 2 *", "never fires"),
        ("0 0 30 2 *", "never fires"),
        ("* * * * * *", "fires every 1 s"),
        ("* * * * *", "fires every 60 s"),
        ("0-59 9 1 * *", "fires every 60 s"),
        ("0 0 1 1 * 0 2027", "invalid"),
    ],
)
async def test_an_impossible_or_too_frequent_schedule_is_refused_when_saved(
    client: httpx.AsyncClient, cron: str, why: str
) -> None:
    response = await client.put(
        "/v1/preventive-schedules/check", json={**SCHEDULE, "cron": cron}, headers=ADMIN
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert why in response.json()["detail"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Check\u202ebackups"),
        ("subject", "Check\r\nBcc: x@y.test"),
        ("description", "Check\x00backups"),
        ("requester_email", "o\u2066@a.test"),
        ("requester_name", "Op\x1bs"),
    ],
)
async def test_an_unsafe_ticket_template_value_is_a_422_naming_it(
    client: httpx.AsyncClient, field: str, value: str
) -> None:
    response = await client.put(
        "/v1/preventive-schedules/check",
        json=_with(SCHEDULE, f"ticket.{field}", value),
        headers=ADMIN,
    )
    assert response.status_code == 422, response.text
    assert f"ticket.{field}" in [error["field"] for error in response.json()["errors"]]


def test_a_schedule_just_at_the_minimum_interval_is_accepted() -> None:
    schedule = PreventiveSchedule(
        tenant_id=TENANT,
        schedule_id="s",
        cron="*/5 * * * *",
        time_zone="UTC",
        ticket=TicketTemplate("s", "d", "o@a.test"),
    )
    schedule.check_frequency(datetime(2026, 3, 1, tzinfo=UTC), timedelta(minutes=5))
    with pytest.raises(InvalidSchedule):
        schedule.check_frequency(datetime(2026, 3, 1, tzinfo=UTC), timedelta(minutes=6))


SPARSE = BusinessCalendar(
    name="one minute a week",
    time_zone="Pacific/Kiritimati",
    weekly_hours={6: (WorkingInterval(time(23, 59), time(0, 0)),)},
    holidays=tuple(Holiday(date(2026 + n, 1, 1), date(2026 + n, 12, 31)) for n in range(0, 366, 2)),
)
CALENDARS = [
    SPARSE,
    BusinessCalendar.around_the_clock(),
    BusinessCalendar(
        name="office", weekly_hours={day: (WorkingInterval(time(9), time(17)),) for day in range(5)}
    ),
]
STARTS = [datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(9998, 12, 30, tzinfo=UTC)]


@pytest.mark.parametrize("calendar", CALENDARS, ids=lambda calendar: calendar.name)
@pytest.mark.parametrize("start", STARTS, ids=lambda start: str(start.year))
def test_the_domain_cannot_overflow_at_the_largest_accepted_values(
    calendar: BusinessCalendar, start: datetime
) -> None:
    rules = MetricPolicy(
        "first_response",
        {"high": MAX_TARGET_SECONDS},
        warnings=(WarningLead(seconds_left=MAX_TARGET_SECONDS), WarningLead(fraction_left=0.99)),
        escalations=(
            EscalationLevel(1, offset_seconds=MAX_TARGET_SECONDS),
            EscalationLevel(2, offset_seconds=-MAX_TARGET_SECONDS),
        ),
    )
    policy = SlaPolicy(
        policy_id="p",
        name="p",
        version=1,
        position=1_000_000,
        calendar=calendar,
        metrics={"first_response": rules},
    )
    began = clock.monotonic()
    started, _event = SlaClock.start(
        tenant_id="t",
        ticket_id="k",
        policy=policy,
        rules=rules,
        target_seconds=MAX_TARGET_SECONDS,
        at=start,
        reason="r",
    )
    due = started.due(rules, calendar)
    paused, _ = started.pause(at=start + timedelta(days=1), reason="waiting", calendar=calendar)
    resumed, _ = paused.resume(at=start + timedelta(days=2), calendar=calendar, reason="back")
    assert clock.monotonic() - began < 5
    assert start <= started.deadline <= horizon_of(start)
    assert all(item.at <= horizon_of(start) for item in due)
    assert resumed.deadline <= horizon_of(start + timedelta(days=2))
    assert horizon_of(start) - start <= HORIZON

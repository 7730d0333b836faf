"""Preventive schedules: each occurrence opened once, late ones marked, DST-correct times."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from escalation_support import TENANT, UnitOfWorkFactory, pending_timers
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_escalation.domain.errors import InvalidSchedule, ScheduleNotFound
from helpline_escalation.domain.preventive import LATE_TAG, PreventiveSchedule, TicketTemplate
from helpline_escalation.entrypoints import http_preventive
from helpline_escalation.service_layer import preventive
from helpline_shared.runtime.auth import CredentialVerifier
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.problems import install_problem_handlers
from helpline_shared.runtime.testing import stand_in_identity
from helpline_shared.runtime.timers import Timer

IDENTITY = stand_in_identity()

TEMPLATE = TicketTemplate(
    subject="Monthly check", description="Check the backups", requester_email="ops@example.com"
)


class FakeOpener:
    """Intake with Idempotency-Key semantics: the same key returns the first ticket."""

    def __init__(self) -> None:
        self.by_key: dict[str, tuple[str, dict[str, Any]]] = {}
        self.calls = 0

    async def open_ticket(self, tenant_id: str, body: dict[str, Any], idempotency_key: str) -> str:
        self.calls += 1
        if idempotency_key not in self.by_key:
            self.by_key[idempotency_key] = (f"tk-{len(self.by_key) + 1}", body)
        return self.by_key[idempotency_key][0]


def schedule(cron: str = "0 9 * * 1", zone: str = "Europe/Berlin") -> PreventiveSchedule:
    return PreventiveSchedule(
        tenant_id=TENANT, schedule_id="backups", cron=cron, time_zone=zone, ticket=TEMPLATE
    )


def test_occurrences_follow_the_wall_clock_of_the_zone_across_dst() -> None:
    weekly = schedule()
    before_dst = weekly.next_occurrence(datetime(2026, 3, 20, tzinfo=UTC))
    after_dst = weekly.next_occurrence(before_dst)
    assert before_dst == datetime(2026, 3, 23, 8, tzinfo=UTC)  # 09:00 CET
    assert after_dst == datetime(2026, 3, 30, 7, tzinfo=UTC)  # 09:00 CEST


@pytest.mark.parametrize(("cron", "zone"), [("61 * * * *", "UTC"), ("0 9 * * 1", "Mars/Base")])
def test_a_bad_cron_or_zone_is_refused(cron: str, zone: str) -> None:
    with pytest.raises(InvalidSchedule):
        schedule(cron, zone)


def test_a_late_occurrence_is_tagged_and_says_when_it_was_due() -> None:
    occurrence = datetime(2026, 3, 23, 8, tzinfo=UTC)
    on_time = schedule().ticket_request(
        occurrence, now=occurrence + timedelta(seconds=5), late_after=timedelta(minutes=5)
    )
    late = schedule().ticket_request(
        occurrence, now=occurrence + timedelta(hours=3), late_after=timedelta(minutes=5)
    )
    assert LATE_TAG not in on_time["tags"] and LATE_TAG in late["tags"]
    assert "2026-03-23T09:00:00+01:00" in late["description"]
    assert late["type"] == "preventive"


async def fire(unit_of_work: UnitOfWorkFactory, timer: Timer, opener: FakeOpener) -> None:
    async with unit_of_work() as uow:
        await preventive.fire_occurrence(uow, timer, opener, timedelta(minutes=5))
        await uow.commit()


async def test_refiring_an_occurrence_reuses_its_idempotency_key_and_arms_the_next(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    _, first = await preventive.put_schedule(schedule(), unit_of_work())
    [timer] = await pending_timers(engine)
    assert timer.due_at == first
    opener = FakeOpener()
    await fire(unit_of_work, timer, opener)
    await fire(unit_of_work, timer, opener)
    assert opener.calls == 2 and len(opener.by_key) == 1
    following = [t for t in await pending_timers(engine) if t.id != timer.id]
    assert {t.due_at for t in following} == {first + timedelta(weeks=1)}


async def test_an_occurrence_armed_by_an_older_version_is_a_no_op(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await preventive.put_schedule(schedule(), unit_of_work())
    [old_timer] = await pending_timers(engine)
    await preventive.put_schedule(schedule("0 10 * * 2"), unit_of_work())
    opener = FakeOpener()
    await fire(unit_of_work, old_timer, opener)
    assert opener.calls == 0


async def test_a_paused_schedule_fires_nothing_and_resumes_from_the_next_occurrence(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    daily = schedule("0 9 * * *", "UTC")
    await preventive.put_schedule(daily, unit_of_work())
    [armed] = await pending_timers(engine)
    paused = await preventive.pause_schedule(TENANT, "backups", unit_of_work())
    assert paused.paused_at is not None and await pending_timers(engine) == []
    opener = FakeOpener()
    await fire(unit_of_work, armed, opener)  # claimed just before the pause: still nothing
    assert opener.calls == 0
    _, again = await preventive.put_schedule(daily, unit_of_work())  # a new version stays paused
    assert again is None and await pending_timers(engine) == []
    _, following = await preventive.resume_schedule(TENANT, "backups", unit_of_work())
    [rearmed] = await pending_timers(engine)
    # Occurrences that fell in the pause are skipped: the next one is after the resumption.
    assert rearmed.due_at == following > utcnow() and following >= armed.due_at


async def test_deleting_a_schedule_removes_it_and_its_pending_timer(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await preventive.put_schedule(schedule(), unit_of_work())
    await preventive.delete_schedule(TENANT, "backups", unit_of_work())
    assert await pending_timers(engine) == []
    async with unit_of_work() as uow:
        assert await uow.schedules.get(TENANT, "backups") is None
    for action in (
        preventive.delete_schedule,
        preventive.pause_schedule,
        preventive.resume_schedule,
    ):
        with pytest.raises(ScheduleNotFound):
            await action(TENANT, "backups", unit_of_work())


async def test_pause_resume_and_delete_over_the_api(unit_of_work: UnitOfWorkFactory) -> None:
    app = FastAPI()
    app.state.verifier = CredentialVerifier(IDENTITY.url, IDENTITY.issuer)
    install_problem_handlers(app)
    app.include_router(http_preventive.router(unit_of_work, timedelta(minutes=1)))
    admin = {"Authorization": f"Bearer {IDENTITY.api_key(TENANT, ['admin'])}"}
    body = {
        "cron": "0 9 * * 1",
        "time_zone": "UTC",
        "ticket": {
            "subject": "Check",
            "description": "Backups",
            "requester_email": "ops@example.com",
        },
    }
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://escalation"
    ) as client:
        path = "/v1/preventive-schedules/backups"
        assert (await client.put(path, json=body, headers=admin)).status_code == 200
        stranger = {"Authorization": f"Bearer {IDENTITY.api_key('other', ['admin'])}"}
        for method, suffix in [("POST", "/pause"), ("POST", "/resume"), ("DELETE", "")]:
            foreign = await client.request(method, path + suffix, headers=stranger)
            assert foreign.status_code == 404, (method, suffix)
        paused = await client.post(f"{path}/pause", headers=admin)
        assert (paused.status_code, paused.json()["paused"]) == (200, True)
        assert paused.json()["next_occurrence_at"] is None
        resumed = await client.post(f"{path}/resume", headers=admin)
        assert resumed.json()["paused"] is False and resumed.json()["next_occurrence_at"]
        assert (await client.delete(path, headers=admin)).status_code == 204
        missing = await client.delete(path, headers=admin)
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert (await client.post(f"{path}/pause", headers=admin)).status_code == 404

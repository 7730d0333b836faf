"""Each metric's start, pause and stop; auto-replies; reopen; recompute; warnings; escalations."""

from datetime import datetime, timedelta
from typing import Any

from escalation_support import (
    TENANT,
    UnitOfWorkFactory,
    envelope_of,
    message_added,
    pending_timers,
    published,
    ticket_created,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_escalation.adapters.policy_documents import PolicyDocument
from helpline_escalation.domain.model import SlaClock
from helpline_escalation.service_layer import handlers, policies
from helpline_shared.envelope import Envelope
from helpline_shared.events import (
    Event,
    SlaClockStarted,
    SlaDeadlineRecomputed,
    SlaEscalated,
    SlaMetric,
    SlaWarning,
    TicketStatus,
    TicketStatusChanged,
    TicketUpdated,
)
from helpline_shared.runtime.db import utcnow

HOUR = 3600
ALL_METRICS = ("first_response", "next_response", "periodic_update", "resolution")


def document(**overrides: Any) -> PolicyDocument:
    """A 24/7 policy tracking every metric, with a warning and a three-level chain."""
    metric = {
        "targets": {"high": 4 * HOUR, "urgent": HOUR},
        "warnings": [{"fraction_left": 0.25}],
        "escalations": [
            {"level": 1, "offset_seconds": -10 * 60, "notify": ["assignee"]},
            {"level": 2, "offset_seconds": 0, "notify": ["team_lead"]},
            {
                "level": 3,
                "offset_seconds": HOUR,
                "notify": ["manager"],
                "raise_priority_to": "urgent",
                "widen_to_team": "tier-2",
            },
        ],
    }
    body: dict[str, Any] = {
        "name": "Premium",
        "position": 0,
        "calendar": {"name": "24/7", "always_open": True},
        "metrics": {name: metric for name in ALL_METRICS},
    }
    body.update(overrides)
    return PolicyDocument.model_validate(body)


class Scenario:
    """One ticket's life, fed event by event, with its clocks and published events at hand."""

    def __init__(self, engine: AsyncEngine, unit_of_work: UnitOfWorkFactory) -> None:
        self.engine = engine
        self.unit_of_work = unit_of_work
        self.start = utcnow() - timedelta(days=1)
        self.status: TicketStatus = "new"

    def at(self, minutes: float) -> datetime:
        """The instant ``minutes`` after the ticket was created."""
        return self.start + timedelta(minutes=minutes)

    async def feed(self, event: Event) -> None:
        """Deliver ``event`` to escalation."""
        await handlers.on_ticket_event(envelope_of(event), self.unit_of_work(), {"high": 99})

    async def status_to(self, status: TicketStatus, minutes: float) -> None:
        """Move the ticket to ``status``."""
        await self.feed(
            TicketStatusChanged(
                tenant_id=TENANT,
                ticket_id="t-1",
                occurred_at=self.at(minutes),
                previous_status=self.status,
                status=status,
            )
        )
        self.status = status

    async def clock(self, metric: SlaMetric) -> SlaClock:
        """The ticket's clock of ``metric``."""
        async with self.unit_of_work() as uow:
            clock = await uow.clocks.get(TENANT, "t-1", metric)
        assert clock is not None, metric
        return clock

    async def events(self, event_type: str | None = None) -> list[Envelope]:
        """Published events, of ``event_type`` if given."""
        return [
            e for e in await published(self.engine) if event_type is None or e.type == event_type
        ]

    async def fire_all_due(self, until: datetime | None = None) -> None:
        """Fire every pending timer due by ``until`` (default: all), twice each."""
        for timer in await pending_timers(self.engine):
            if until is None or timer.due_at <= until:
                for _ in range(2):
                    async with self.unit_of_work() as uow:
                        await handlers.fire_timer(uow, timer)
                        await uow.commit()


async def with_policy(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory, body: PolicyDocument | None = None
) -> Scenario:
    await policies.put_policy(
        TENANT, "premium", body or document(), recompute=False, uow=unit_of_work()
    )
    scenario = Scenario(engine, unit_of_work)
    await scenario.feed(ticket_created(priority="high", at=scenario.start))
    return scenario


async def test_a_new_ticket_starts_first_response_and_resolution(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    scenario = await with_policy(engine, unit_of_work)
    started = [e.event for e in await scenario.events(SlaClockStarted.event_type)]
    assert sorted(e.metric for e in started if isinstance(e, SlaClockStarted)) == [
        "first_response",
        "resolution",
    ]
    assert (await scenario.clock("first_response")).deadline == scenario.at(240)


async def test_the_first_agent_reply_stops_first_response_and_starts_periodic_update(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    scenario = await with_policy(engine, unit_of_work)
    await scenario.feed(message_added(author_role="agent", at=scenario.at(30)))
    assert (await scenario.clock("first_response")).status == "met"
    periodic = await scenario.clock("periodic_update")
    assert (periodic.status, periodic.cycle) == ("running", 1)
    await scenario.feed(message_added(author_role="agent", at=scenario.at(90)))
    periodic = await scenario.clock("periodic_update")
    assert (periodic.cycle, periodic.deadline) == (2, scenario.at(90 + 240))


async def test_next_response_runs_from_the_oldest_unanswered_customer_message(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    scenario = await with_policy(engine, unit_of_work)
    await scenario.feed(message_added(author_role="requester", at=scenario.at(5)))
    async with unit_of_work() as uow:  # first response still owed: no next-response clock yet
        assert await uow.clocks.get(TENANT, "t-1", "next_response") is None
    await scenario.feed(message_added(author_role="agent", at=scenario.at(10)))
    await scenario.feed(message_added(author_role="requester", at=scenario.at(20)))
    await scenario.feed(message_added(author_role="requester", at=scenario.at(50)))
    clock = await scenario.clock("next_response")
    assert (clock.cycle, clock.started_at) == (1, scenario.at(20))
    await scenario.feed(message_added(author_role="agent", at=scenario.at(60)))
    assert (await scenario.clock("next_response")).status == "met"
    await scenario.feed(message_added(author_role="requester", at=scenario.at(70)))
    clock = await scenario.clock("next_response")
    assert (clock.status, clock.cycle, clock.started_at) == ("running", 2, scenario.at(70))


async def test_pending_pauses_and_a_customer_reply_resumes_with_the_deadline_moved(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    scenario = await with_policy(engine, unit_of_work)
    await scenario.status_to("pending", 60)
    paused = await scenario.clock("resolution")
    assert (paused.status, paused.elapsed_seconds) == ("paused", 60 * 60)
    await scenario.feed(message_added(author_role="requester", at=scenario.at(150)))
    resumed = await scenario.clock("resolution")
    assert resumed.status == "running"
    assert resumed.paused_seconds == 90 * 60
    assert resumed.deadline == scenario.at(240 + 90)


async def test_an_auto_reply_never_resumes_a_paused_clock(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    scenario = await with_policy(engine, unit_of_work)
    await scenario.status_to("on_hold", 10)
    await scenario.feed(message_added(author_role="requester", auto_reply=True, at=scenario.at(20)))
    assert (await scenario.clock("resolution")).status == "paused"
    assert (await scenario.clock("first_response")).status == "paused"


async def test_solving_stops_resolution_and_reopening_starts_a_fresh_cycle(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    scenario = await with_policy(engine, unit_of_work)
    await scenario.fire_all_due(until=scenario.at(24 * 60))  # breached while open
    await scenario.status_to("solved", 300)
    assert (await scenario.clock("resolution")).status == "breached"
    await scenario.status_to("open", 2000)
    reopened = await scenario.clock("resolution")
    assert (reopened.status, reopened.cycle) == ("running", 2)
    # A reopened ticket does not escalate instantly: its new deadline lies ahead.
    assert reopened.deadline == scenario.at(2000 + 240)
    assert reopened.breached_at is None and reopened.sent == ()


async def test_each_warning_and_escalation_level_fires_once_per_cycle(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    scenario = await with_policy(engine, unit_of_work)
    await scenario.fire_all_due()
    await scenario.fire_all_due()
    escalations = [
        e.event
        for e in await scenario.events(SlaEscalated.event_type)
        if e.event.metric == "first_response"
    ]
    assert [(e.level, e.notify) for e in escalations if isinstance(e, SlaEscalated)] == [
        (1, ("assignee",)),
        (2, ("team_lead",)),
        (3, ("manager",)),
    ]
    level_three = escalations[-1]
    assert isinstance(level_three, SlaEscalated)
    assert (level_three.raise_priority_to, level_three.widen_to_team) == ("urgent", "tier-2")
    assert (level_three.policy_id, level_three.policy_version, level_three.calendar) == (
        "premium",
        1,
        "24/7",
    )
    warnings = [
        e.event
        for e in await scenario.events(SlaWarning.event_type)
        if e.event.metric == "first_response"
    ]
    assert len(warnings) == 1
    assert isinstance(warnings[0], SlaWarning) and warnings[0].seconds_left == HOUR
    ids = [e.id for e in await scenario.events()]
    assert len(ids) == len(set(ids))


async def test_a_new_policy_version_with_recompute_moves_open_deadlines_and_says_so(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    scenario = await with_policy(engine, unit_of_work)
    faster = document(metrics={"first_response": {"targets": {"high": 2 * HOUR}}})
    policy, moved = await policies.put_policy(
        TENANT, "premium", faster, recompute=True, uow=unit_of_work()
    )
    assert policy.version == 2
    assert [(m.metric, m.deadline) for m in moved] == [("first_response", scenario.at(120))]
    [recomputed] = [e.event for e in await scenario.events(SlaDeadlineRecomputed.event_type)]
    assert isinstance(recomputed, SlaDeadlineRecomputed)
    assert (recomputed.previous_deadline, recomputed.deadline) == (
        scenario.at(240),
        scenario.at(120),
    )
    assert recomputed.reason == "policy premium changed to version 2"


async def test_a_running_clock_keeps_its_policy_version_unless_recomputed(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    scenario = await with_policy(engine, unit_of_work)
    await policies.put_policy(
        TENANT, "premium", document(name="Changed"), recompute=False, uow=unit_of_work()
    )
    assert (await scenario.clock("first_response")).policy_version == 1


async def test_raising_the_priority_recomputes_the_deadline(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    scenario = await with_policy(engine, unit_of_work)
    await scenario.feed(
        TicketUpdated(
            tenant_id=TENANT,
            ticket_id="t-1",
            occurred_at=scenario.at(15),
            changed_fields=("priority",),
            priority="urgent",
            type="question",
        )
    )
    assert (await scenario.clock("first_response")).deadline == scenario.at(60)


async def test_an_unmatched_ticket_falls_back_to_the_default_policy(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    body = document(conditions={"plans": ["premium"]})
    await policies.put_policy(TENANT, "premium", body, recompute=False, uow=unit_of_work())
    scenario = Scenario(engine, unit_of_work)
    await scenario.feed(ticket_created(priority="high", at=scenario.start))
    clock = await scenario.clock("first_response")
    assert (clock.policy_id, clock.target_seconds) == ("default", 99)


async def test_every_open_metric_pauses_when_pending_resumes_when_open_and_stops_when_solved(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    scenario = await with_policy(engine, unit_of_work)
    await scenario.feed(message_added(author_role="agent", at=scenario.at(10)))
    await scenario.feed(message_added(author_role="requester", at=scenario.at(20)))
    open_metrics: tuple[SlaMetric, ...] = ("next_response", "periodic_update", "resolution")
    await scenario.status_to("pending", 30)
    assert [(await scenario.clock(m)).status for m in open_metrics] == ["paused"] * 3
    await scenario.status_to("open", 45)
    assert [(await scenario.clock(m)).status for m in open_metrics] == ["running"] * 3
    assert [(await scenario.clock(m)).paused_seconds for m in open_metrics] == [15 * 60] * 3
    await scenario.status_to("solved", 60)
    assert [(await scenario.clock(m)).status for m in (*open_metrics, "first_response")] == [
        "met"
    ] * 4

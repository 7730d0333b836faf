"""Escalation's handlers on a real (temp-file SQLite) database with its real migrations."""

from datetime import timedelta

import pytest
from escalation_support import (
    TENANT,
    UnitOfWorkFactory,
    envelope_of,
    message_added,
    pending_timers,
    published,
    status_changed,
    ticket_created,
    unit_of_work_on,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_escalation.domain.errors import TicketNotTracked
from helpline_escalation.domain.policy import DEFAULT_FIRST_RESPONSE_TARGETS
from helpline_escalation.service_layer import handlers
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared.envelope import derived_event_id
from helpline_shared.events import (
    AuthorRole,
    Event,
    SlaBreached,
    SlaClockPaused,
    SlaClockStarted,
    SlaClockStopped,
    TicketStatus,
)
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.timers import Timer


async def handle(
    unit_of_work: UnitOfWorkFactory, event: Event, event_id: str | None = None
) -> None:
    await handlers.on_ticket_event(
        envelope_of(event, event_id), unit_of_work(), DEFAULT_FIRST_RESPONSE_TARGETS
    )


async def fire(unit_of_work: UnitOfWorkFactory, timer: Timer) -> None:
    """Fire ``timer`` the way the timer loop does: in a unit of work that commits."""
    async with unit_of_work() as uow:
        await handlers.fire_breach_timer(uow, timer)
        await uow.commit()


BREACH_EVENT_ID = derived_event_id(
    "escalation", TENANT, "t-1", "first_response", "cycle1", "breach"
)


async def event_types(engine: AsyncEngine) -> list[str]:
    return [envelope.type for envelope in await published(engine)]


async def test_new_ticket_starts_its_first_response_clock_and_breach_timer(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    created = ticket_created(priority="high")
    await handle(unit_of_work, created)

    [envelope] = await published(engine)
    started = envelope.event
    assert isinstance(started, SlaClockStarted)
    assert started.metric == "first_response"
    assert started.target_seconds == 4 * 3600
    assert started.deadline == created.occurred_at + timedelta(hours=4)
    assert started.reason == (
        "first response target for high priority: 4h on calendar 24/7 "
        "(policy default v1); ticket created"
    )
    [timer] = await pending_timers(engine)
    assert timer.id == f"{TENANT}:t-1:first_response:v1:breach"
    assert timer.kind == handlers.BREACH_TIMER
    assert timer.due_at == started.deadline
    assert timer.payload["clock_version"] == 1


async def test_redelivered_ticket_created_changes_nothing_twice(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    created = ticket_created()
    await handle(unit_of_work, created, event_id="ce-1")
    await handle(unit_of_work, created, event_id="ce-1")
    assert await event_types(engine) == [SlaClockStarted.event_type]
    assert len(await pending_timers(engine)) == 1


async def test_public_agent_reply_meets_the_clock(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await handle(unit_of_work, ticket_created())
    reply = message_added(author_role="agent")
    await handle(unit_of_work, reply)

    stopped = (await published(engine))[-1].event
    assert isinstance(stopped, SlaClockStopped)
    assert (stopped.breached, stopped.clock_version) == (False, 2)
    assert stopped.stopped_at == reply.occurred_at
    async with unit_of_work() as uow:
        clock = await uow.clocks.get(TENANT, "t-1", "first_response")
    assert clock is not None and clock.status == "met"


@pytest.mark.parametrize(
    ("author_role", "public", "auto_reply"),
    [
        ("requester", True, False),
        ("agent", True, True),
        ("agent", False, False),
        ("system", True, False),
    ],
    ids=["customer reply", "auto-reply", "internal note", "system message"],
)
async def test_other_messages_leave_the_clock_running(
    engine: AsyncEngine,
    unit_of_work: UnitOfWorkFactory,
    author_role: AuthorRole,
    public: bool,
    auto_reply: bool,
) -> None:
    await handle(unit_of_work, ticket_created())
    await handle(
        unit_of_work, message_added(author_role=author_role, public=public, auto_reply=auto_reply)
    )
    assert await event_types(engine) == [SlaClockStarted.event_type]
    async with unit_of_work() as uow:
        clock = await uow.clocks.get(TENANT, "t-1", "first_response")
    assert clock is not None and clock.state == "running"


@pytest.mark.parametrize(
    ("status", "then"),
    [
        ("solved", SlaClockStopped.event_type),
        ("closed", SlaClockStopped.event_type),
        ("pending", SlaClockPaused.event_type),
        ("on_hold", SlaClockPaused.event_type),
    ],
)
async def test_solving_or_closing_stops_the_clock_and_waiting_pauses_it(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory, status: TicketStatus, then: str
) -> None:
    await handle(unit_of_work, ticket_created())
    await handle(unit_of_work, status_changed(status=status))
    assert await event_types(engine) == [SlaClockStarted.event_type, then]


async def test_breach_fires_once(engine: AsyncEngine, unit_of_work: UnitOfWorkFactory) -> None:
    await handle(unit_of_work, ticket_created())
    [timer] = await pending_timers(engine)
    await fire(unit_of_work, timer)
    await fire(unit_of_work, timer)

    breaches = [e for e in await published(engine) if isinstance(e.event, SlaBreached)]
    assert len(breaches) == 1
    assert breaches[0].id == BREACH_EVENT_ID
    assert breaches[0].event.occurred_at == timer.due_at


async def test_stale_timer_after_stop_is_a_no_op(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await handle(unit_of_work, ticket_created())
    [timer] = await pending_timers(engine)
    await handle(unit_of_work, message_added(author_role="agent"))
    await fire(unit_of_work, timer)
    assert await event_types(engine) == [SlaClockStarted.event_type, SlaClockStopped.event_type]


async def test_reply_after_breach_stops_the_clock_as_missed(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await handle(unit_of_work, ticket_created())
    [timer] = await pending_timers(engine)
    await fire(unit_of_work, timer)
    await handle(unit_of_work, message_added(author_role="agent"))
    stopped = (await published(engine))[-1].event
    assert isinstance(stopped, SlaClockStopped)
    assert stopped.breached is True


def recording_unit_of_work(
    engine: AsyncEngine, event_ids: list[str | None]
) -> EscalationUnitOfWork:
    """A unit of work that also notes the id of every event published through it."""

    class Recording(EscalationUnitOfWork):
        def publish(self, event: Event, *, event_id: str | None = None) -> None:
            event_ids.append(event_id)
            super().publish(event, event_id=event_id)

    return unit_of_work_on(engine, Recording)


async def test_refiring_the_same_timer_publishes_the_same_event_id(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await handle(unit_of_work, ticket_created())
    [timer] = await pending_timers(engine)
    event_ids: list[str | None] = []

    async with recording_unit_of_work(engine, event_ids) as uow:
        await handlers.fire_breach_timer(uow, timer)
        # No commit: as if the process died before the fire's transaction committed.
    async with recording_unit_of_work(engine, event_ids) as uow:
        await handlers.fire_breach_timer(uow, timer)
        await uow.commit()

    assert event_ids == [BREACH_EVENT_ID] * 2
    assert [e.id for e in await published(engine) if e.type == SlaBreached.event_type] == [
        BREACH_EVENT_ID
    ]


async def test_message_for_an_unknown_ticket_is_ignored(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await handle(unit_of_work, message_added("never-created", author_role="agent"))
    assert await published(engine) == []


async def test_sla_query_is_scoped_to_the_tenant(unit_of_work: UnitOfWorkFactory) -> None:
    await handle(unit_of_work, ticket_created(at=utcnow()))
    [clock] = await handlers.ticket_sla(TENANT, "t-1", unit_of_work())
    assert clock.state == "running"
    with pytest.raises(TicketNotTracked):
        await handlers.ticket_sla("another-tenant", "t-1", unit_of_work())

"""Intake's rules and handlers on a real (SQLite) database, no broker."""

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_intake.adapters.orm import metadata
from helpline_intake.bootstrap import MIGRATIONS
from helpline_intake.domain.errors import TicketNotFound
from helpline_intake.service_layer import handlers
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared.envelope import Envelope, from_record, to_record
from helpline_shared.events import (
    Event,
    Requester,
    SlaBreached,
    SlaClockPaused,
    SlaClockResumed,
    SlaClockStarted,
    SlaDeadlineRecomputed,
    SlaEscalated,
    TicketAssigned,
    TicketStatus,
)
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import outbox_events, sqlite_units_of_work

Factory = Callable[[], IntakeUnitOfWork]


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[tuple[Factory, AsyncEngine]]:
    async with sqlite_units_of_work(
        tmp_path / "intake.db", MIGRATIONS, metadata, IntakeUnitOfWork
    ) as made:
        yield made


def envelope(event: Event) -> Envelope:
    record = to_record(event, source="/tests")
    return from_record(record.headers, record.value)


async def open_ticket(uow: Factory, tenant: str = "acme") -> str:
    opened = await handlers.open_ticket(
        handlers.OpenTicket(
            tenant_id=tenant,
            subject="Export fails",
            description="since 4.2",
            requester=Requester(email="cy@example.org"),
            priority="high",
            type="corrective",
            tags=["exports", "exports"],
            channel="api",
        ),
        uow(),
    )
    return opened.id


async def set_status(uow: Factory, ticket_id: str, status: TicketStatus) -> None:
    async with uow() as unit:
        ticket = await unit.tickets.get("acme", ticket_id)
        assert ticket is not None
        ticket.status = status
        await unit.tickets.save(ticket)
        await unit.commit()


async def reply(uow: Factory, ticket_id: str, role: str, auto_reply: bool = False) -> None:
    await handlers.add_message(
        handlers.AddMessage(
            tenant_id="acme",
            ticket_id=ticket_id,
            author_role=role,  # type: ignore[arg-type]
            author_id=None,
            public=True,
            channel="email",
            body="thanks",
            auto_reply=auto_reply,
        ),
        uow(),
    )


async def types(engine: AsyncEngine) -> list[str]:
    return [e.type for e in await outbox_events(engine, metadata)]


async def test_opening_a_ticket_stores_it_and_publishes_ticket_created(
    database: tuple[Factory, AsyncEngine],
) -> None:
    uow, engine = database
    ticket_id = await open_ticket(uow)
    async with uow() as unit:
        ticket = await unit.tickets.get("acme", ticket_id)
    assert ticket is not None and ticket.status == "new" and ticket.tags == ["exports"]
    [created] = await outbox_events(engine, metadata)
    assert created.type == "helpline.ticket.created.v1" and created.subject == ticket_id


async def test_another_tenant_cannot_find_the_ticket(database: tuple[Factory, AsyncEngine]) -> None:
    uow, _ = database
    ticket_id = await open_ticket(uow)
    async with uow() as unit:
        assert await unit.tickets.get("other", ticket_id) is None
    with pytest.raises(TicketNotFound):
        await handlers.add_message(
            handlers.AddMessage(
                tenant_id="other",
                ticket_id=ticket_id,
                author_role="agent",
                author_id=None,
                public=True,
                channel="api",
                body="hi",
            ),
            uow(),
        )


@pytest.mark.parametrize(
    ("status", "role", "auto_reply", "reopened"),
    [
        ("pending", "requester", False, True),
        ("solved", "requester", False, True),
        ("pending", "requester", True, False),
        ("pending", "agent", False, False),
        ("on_hold", "requester", False, False),
    ],
)
async def test_a_customer_answer_reopens_but_an_auto_reply_never_does(
    database: tuple[Factory, AsyncEngine],
    status: TicketStatus,
    role: str,
    auto_reply: bool,
    reopened: bool,
) -> None:
    uow, engine = database
    ticket_id = await open_ticket(uow)
    await set_status(uow, ticket_id, status)
    await reply(uow, ticket_id, role, auto_reply)
    async with uow() as unit:
        ticket = await unit.tickets.get("acme", ticket_id)
    assert ticket is not None
    assert ticket.status == ("open" if reopened else status)
    assert ("helpline.ticket.status_changed.v1" in await types(engine)) is reopened


async def test_assignment_and_sla_state_show_on_the_ticket_once(
    database: tuple[Factory, AsyncEngine],
) -> None:
    uow, engine = database
    ticket_id = await open_ticket(uow)
    now = utcnow()
    assigned = envelope(
        TicketAssigned(
            tenant_id="acme",
            ticket_id=ticket_id,
            occurred_at=now,
            agent_id="agent-1",
            agent_name="Ada",
            agent_email="ada@acme.test",
            channel="api",
            candidates_considered=1,
            reason="only one",
        )
    )
    started = envelope(
        SlaClockStarted(
            tenant_id="acme",
            ticket_id=ticket_id,
            occurred_at=now,
            metric="first_response",
            target_seconds=60,
            started_at=now,
            deadline=now + timedelta(minutes=1),
            clock_version=1,
            reason="high",
        )
    )
    breached = envelope(
        SlaBreached(
            tenant_id="acme",
            ticket_id=ticket_id,
            occurred_at=now,
            metric="first_response",
            deadline=now + timedelta(minutes=1),
            clock_version=1,
            reason="no reply",
        )
    )
    for event in (assigned, assigned, started, breached):
        await handlers.on_event(event, uow())
    async with uow() as unit:
        ticket = await unit.tickets.get("acme", ticket_id)
    assert ticket is not None
    assert (ticket.assignee_id, ticket.status) == ("agent-1", "open")
    assert ticket.sla["first_response"]["state"] == "breached"
    assert (await types(engine)).count("helpline.ticket.status_changed.v1") == 1


async def test_the_ticket_follows_pauses_resumes_recomputes_and_escalations(
    database: tuple[Factory, AsyncEngine],
) -> None:
    uow, _ = database
    ticket_id = await open_ticket(uow)
    now = utcnow()
    first, moved, last = (now + timedelta(hours=h) for h in (4, 6, 3))
    common = {"tenant_id": "acme", "ticket_id": ticket_id, "metric": "resolution"}

    async def shown(event: Event) -> tuple[dict[str, object], str]:
        await handlers.on_event(envelope(event), uow())
        async with uow() as unit:
            ticket = await unit.tickets.get("acme", ticket_id)
        assert ticket is not None
        return ticket.sla["resolution"], ticket.priority

    started = SlaClockStarted(
        **common,
        occurred_at=now,
        target_seconds=14400,
        started_at=now,
        deadline=first,
        clock_version=1,
        reason="created",
    )
    state, _ = await shown(started)
    assert (state["state"], state["deadline"]) == ("running", first.isoformat())
    state, _ = await shown(
        SlaClockPaused(
            **common,
            occurred_at=now,
            elapsed_seconds=60.0,
            clock_version=2,
            reason="ticket pending",
        )
    )
    assert (state["state"], state["deadline"]) == ("paused", None)
    state, _ = await shown(started)  # a redelivered older version moves nothing back
    assert state["state"] == "paused"
    state, _ = await shown(
        SlaClockResumed(
            **common,
            occurred_at=now,
            deadline=moved,
            paused_seconds=7200.0,
            clock_version=3,
            reason="the customer replied",
        )
    )
    assert (state["state"], state["deadline"]) == ("running", moved.isoformat())
    state, _ = await shown(
        SlaDeadlineRecomputed(
            **common,
            occurred_at=now,
            previous_deadline=moved,
            deadline=last,
            previous_target_seconds=14400,
            target_seconds=7200,
            policy_id="default",
            policy_version=2,
            calendar="24/7",
            clock_version=4,
            reason="priority changed",
        )
    )
    assert (state["state"], state["deadline"]) == ("running", last.isoformat())
    state, priority = await shown(
        SlaEscalated(
            **common,
            occurred_at=now,
            level=1,
            deadline=last,
            raise_priority_to="urgent",
            clock_version=4,
            reason="level 1",
        )
    )
    assert (state["escalation_level"], priority) == (1, "urgent")
    state, priority = await shown(
        SlaEscalated(
            **common,
            occurred_at=now,
            level=2,
            deadline=last,
            raise_priority_to="normal",
            clock_version=4,
            reason="level 2",
        )
    )
    assert (state["escalation_level"], priority) == (2, "urgent")  # never lowered


async def test_pages_follow_the_cursor_without_gaps_or_repeats(
    database: tuple[Factory, AsyncEngine],
) -> None:
    from helpline_intake.adapters.repository import decode_cursor, encode_cursor

    uow, _ = database
    opened = [await open_ticket(uow) for _ in range(5)]
    seen: list[str] = []
    after = None
    while True:
        async with uow() as unit:
            page = await unit.tickets.page("acme", limit=2, after=after)
        if not page:
            break
        seen.extend(ticket.id for ticket in page)
        after = decode_cursor(encode_cursor(page[-1]))
    assert sorted(seen) == sorted(opened) and len(seen) == 5

"""Random event sequences for one ticket through escalation's real handlers and timers.

Time is simulated: each event happens at the run's current instant, and advancing the clock
fires every timer that came due, in order, as the timer loop would. Events are redelivered and
old ones replayed; fired timers fire again. Invariants: a paused clock never breaches (nor warns
or escalates), and no clock breaches while the ticket waits in a pause status; each breach,
warning and escalation level is published at most once per clock cycle; a redelivered event
changes nothing; the outbox holds unique ids and events valid per the committed schemas.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from escalation_support import TENANT, envelope_of, pending_timers
from event_checks import (
    Published,
    fresh_database,
    migrated_template,
    outbox,
    outbox_size,
    schema_errors,
)
from fuzzing import fuzz_settings
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_escalation.adapters.orm import metadata, timers
from helpline_escalation.adapters.policy_documents import PolicyDocument
from helpline_escalation.bootstrap import MIGRATIONS
from helpline_escalation.domain.policy import PAUSE_STATUSES
from helpline_escalation.service_layer import handlers, policies
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared.envelope import Envelope, new_event_id
from helpline_shared.events import (
    AuthorRole,
    Event,
    MessageAdded,
    Priority,
    Requester,
    TicketCreated,
    TicketStatus,
    TicketStatusChanged,
    TicketUpdated,
)
from helpline_shared.runtime.timers import Timer

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
TICKET = "t-fuzz"
HOUR = 3600
STATUSES: tuple[TicketStatus, ...] = ("new", "open", "pending", "on_hold", "solved", "closed")
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "urgent")
METRICS = ("first_response", "next_response", "periodic_update", "resolution")
TIMED = {"helpline.sla.breached.v1", "helpline.sla.warning.v1", "helpline.sla.escalated.v1"}
UnitOfWorkFactory = Callable[[], EscalationUnitOfWork]


def policy_document() -> PolicyDocument:
    """Every metric, short targets, a warning and a three-level chain, around the clock."""
    metric = {
        "targets": {"low": 8 * HOUR, "normal": 4 * HOUR, "high": 2 * HOUR, "urgent": HOUR},
        "warnings": [{"fraction_left": 0.25}],
        "escalations": [
            {"level": 1, "offset_seconds": -600, "notify": ["assignee"]},
            {"level": 2, "offset_seconds": 0, "notify": ["team_lead"]},
            {
                "level": 3,
                "offset_seconds": HOUR,
                "notify": ["manager"],
                "raise_priority_to": "urgent",
            },
        ],
    }
    return PolicyDocument.model_validate(
        {
            "name": "Fuzz",
            "position": 0,
            "calendar": {"name": "24/7", "always_open": True},
            "metrics": dict.fromkeys(METRICS, metric),
        }
    )


@dataclass(frozen=True)
class Status:
    """The ticket moves to ``status``."""

    status: TicketStatus


@dataclass(frozen=True)
class Reply:
    """A message on the ticket."""

    role: AuthorRole
    public: bool
    auto_reply: bool


@dataclass(frozen=True)
class Reprioritise:
    """The ticket's priority changes."""

    priority: Priority


@dataclass(frozen=True)
class Advance:
    """Time passes; every timer due by then fires."""

    minutes: int


@dataclass(frozen=True)
class Redeliver:
    """An earlier event (``index`` modulo how many) arrives again, with its id."""

    index: int


@dataclass(frozen=True)
class Refire:
    """A timer that fired already fires again (a crash before its fired mark committed)."""

    index: int


Step = Status | Reply | Reprioritise | Advance | Redeliver | Refire
# Weighted towards what moves clocks: waiting statuses, replies that count, time passing.
steps = st.lists(
    st.one_of(
        st.builds(Status, st.sampled_from(("pending", "pending", "on_hold", *STATUSES))),
        st.builds(
            Reply,
            st.sampled_from(("agent", "agent", "requester", "requester", "system")),
            st.sampled_from((True, True, True, False)),
            st.sampled_from((False, False, False, True)),
        ),
        st.builds(Reprioritise, st.sampled_from(PRIORITIES)),
        st.builds(Advance, st.integers(1, 8 * 60)),
        st.builds(Advance, st.integers(60, 8 * 60)),
        st.builds(Redeliver, st.integers(0, 1000)),
        st.builds(Refire, st.integers(0, 1000)),
    ),
    min_size=3,
    max_size=40,
)


class Run:
    """One ticket's life through escalation, with the invariants checked as it goes."""

    def __init__(self, unit_of_work: UnitOfWorkFactory, engine: AsyncEngine) -> None:
        self.unit_of_work = unit_of_work
        self.engine = engine
        self.now = T0
        self.status: TicketStatus = "new"
        self.waiting = False
        """The ticket is in a pause status and the customer has not written since."""
        self.delivered: list[Envelope] = []
        self.fired: list[Timer] = []

    async def deliver(self, event: Event) -> None:
        """A new event, now."""
        envelope = envelope_of(event)
        self.delivered.append(envelope)
        await handlers.on_ticket_event(envelope, self.unit_of_work(), {"normal": HOUR})

    async def apply(self, step: Step) -> None:
        """Do ``step``, checking what it must not change."""
        if isinstance(step, Status):
            previous, self.status = self.status, step.status
            self.waiting = step.status in PAUSE_STATUSES
            await self.deliver(
                TicketStatusChanged(
                    tenant_id=TENANT,
                    ticket_id=TICKET,
                    occurred_at=self.now,
                    previous_status=previous,
                    status=step.status,
                )
            )
        elif isinstance(step, Reply):
            if step.role == "requester" and step.public and not step.auto_reply:
                self.waiting = False
            await self.deliver(
                MessageAdded(
                    tenant_id=TENANT,
                    ticket_id=TICKET,
                    occurred_at=self.now,
                    message_id=new_event_id(),
                    author_role=step.role,
                    public=step.public,
                    channel="email",
                    body="…",
                    auto_reply=step.auto_reply,
                )
            )
        elif isinstance(step, Reprioritise):
            await self.deliver(
                TicketUpdated(
                    tenant_id=TENANT,
                    ticket_id=TICKET,
                    occurred_at=self.now,
                    changed_fields=("priority",),
                    priority=step.priority,
                    type="question",
                )
            )
        elif isinstance(step, Advance):
            await self.advance(timedelta(minutes=step.minutes))
        elif isinstance(step, Redeliver) and self.delivered:
            before = await self.snapshot()
            envelope = self.delivered[step.index % len(self.delivered)]
            await handlers.on_ticket_event(envelope, self.unit_of_work(), {"normal": HOUR})
            assert await self.snapshot() == before, f"redelivering {envelope.type} changed state"
        elif isinstance(step, Refire) and self.fired:
            await self.fire(self.fired[step.index % len(self.fired)])

    async def snapshot(self) -> tuple[Any, ...]:
        """The outbox size, the clocks and the pending timers."""
        async with self.unit_of_work() as uow:
            clocks = await uow.clocks.for_ticket(TENANT, TICKET)
        return (
            await outbox_size(self.engine, metadata),
            clocks,
            [timer.id for timer in await pending_timers(self.engine)],
        )

    async def advance(self, by: timedelta) -> None:
        """Move time on by ``by``, firing each timer due by then in due order."""
        self.now += by
        while True:
            due = [timer for timer in await pending_timers(self.engine) if timer.due_at <= self.now]
            if not due:
                return
            await self.fire(due[0])
            async with self.unit_of_work() as uow:
                await uow.session.execute(
                    update(timers).where(timers.c.id == due[0].id).values(fired_at=self.now)
                )
                await uow.commit()
            self.fired.append(due[0])

    async def fire(self, timer: Timer) -> None:
        """Fire ``timer``; a paused clock, or a ticket waiting on its customer, publishes none."""
        metric = str(timer.payload["metric"])
        async with self.unit_of_work() as uow:
            clock = await uow.clocks.get(TENANT, TICKET, metric)
        before = await outbox_size(self.engine, metadata)
        async with self.unit_of_work() as uow:
            await handlers.fire_timer(uow, timer)
            await uow.commit()
        published = [record.type for record in await outbox(self.engine, metadata, before)]
        if clock is not None and clock.state == "paused":
            assert not published, f"paused {metric} clock published {published}"
        if self.waiting:
            assert not TIMED & set(published), (
                f"{metric} published {published} while the ticket was {self.status}, waiting "
                f"on its customer"
            )


def check_outbox(records: list[Published]) -> None:
    """Unique ids, valid events, and per metric cycle at most one of each timed event."""
    assert len({record.event_id for record in records}) == len(records)
    assert not schema_errors(records)
    seen: dict[str, list[str]] = {metric: [] for metric in METRICS}
    for record in records:
        metric = str(record.data.get("metric"))
        if record.type == "helpline.sla.clock_started.v1":
            seen[metric] = []
        elif record.type in TIMED:
            what = record.type + str(record.data.get("level", ""))
            assert what not in seen[metric], f"{what} twice in one {metric} cycle"
            seen[metric].append(what)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("escalation"), MIGRATIONS)


@given(priority=st.sampled_from(PRIORITIES), sequence=steps)
@fuzz_settings(15)
# Found: an agent's reply while the ticket was pending restarted periodic_update running, and it
# breached while the ticket waited on its customer.
@example(priority="high", sequence=[Status("pending"), Reply("agent", True, False), Advance(300)])
async def test_random_ticket_lives_keep_the_sla_invariants(
    template: Path, tmp_path: Path, priority: Priority, sequence: list[Step]
) -> None:
    async with fresh_database(template, tmp_path, metadata, EscalationUnitOfWork) as (
        unit_of_work,
        engine,
    ):
        await policies.put_policy(
            TENANT, "fuzz", policy_document(), recompute=False, uow=unit_of_work()
        )
        run = Run(unit_of_work, engine)
        await run.deliver(
            TicketCreated(
                tenant_id=TENANT,
                ticket_id=TICKET,
                occurred_at=T0,
                subject="Printer",
                description="On fire",
                requester=Requester(email="ann@example.com"),
                priority=priority,
                type="question",
                channel="api",
            )
        )
        for step in sequence:
            await run.apply(step)
        await run.advance(timedelta(days=3))  # whatever is still due comes due
        check_outbox(await outbox(engine, metadata))

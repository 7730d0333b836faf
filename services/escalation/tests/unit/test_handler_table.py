"""Escalation's consumer through the runtime's table: one transaction per batch, no handler
opening or committing, the timer loop woken only by the commit of a timer due soon."""

from datetime import datetime, timedelta
from typing import Any

from escalation_support import (
    UnitOfWorkFactory,
    envelope_of,
    message_added,
    published,
    status_changed,
    ticket_created,
)
from opentelemetry.trace import NoOpTracer
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_escalation.domain.policy import default_policy
from helpline_escalation.service_layer import handlers, preventive
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared.events import (
    MessageAdded,
    SlaBreached,
    SlaClockStarted,
    SlaClockStopped,
    TicketCreated,
    TicketStatusChanged,
    TicketUpdated,
)
from helpline_shared.runtime.consumer import DeadLetters, TableConsumer
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import (
    FakeKafkaConsumer,
    RecordingProducer,
    StatementLog,
    consumer_record,
)


def test_the_table_applies_the_ticket_events_that_move_clocks_and_nothing_else() -> None:
    assert handlers.handler_table().event_types == {
        event.event_type
        for event in (TicketCreated, MessageAdded, TicketStatusChanged, TicketUpdated)
    }
    assert handlers.handler_table().get(SlaBreached.event_type) is None


async def test_a_batch_of_ticket_events_is_one_transaction_and_no_handler_owns_it(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    producer = RecordingProducer()
    consumer = TableConsumer(
        table=handlers.handler_table({"high": 3600}),
        unit_of_work=unit_of_work,
        dead_letters=DeadLetters(producer, "helpline-escalation"),
        tracer=NoOpTracer(),
        group="helpline-escalation",
    )
    records = [
        ticket_created("t-1"),
        message_added("t-1", author_role="requester"),
        ticket_created("t-2"),
        status_changed("t-2", status="solved"),
    ]
    log = StatementLog(engine)
    await consumer.consume(
        [consumer_record(event, offset=n) for n, event in enumerate(records)], FakeKafkaConsumer()
    )

    # A handler that opened, committed or claimed would have been refused and dead-lettered.
    assert producer.sent == []
    assert log.count("COMMIT") == 1
    assert log.count("INSERT INTO processed_events") == 1
    assert [e.type for e in await published(engine)] == [
        SlaClockStarted.event_type,
        SlaClockStarted.event_type,
        SlaClockStopped.event_type,
    ]


async def test_the_timer_loop_is_woken_after_the_commit_with_the_earliest_due_time(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    woken: list[datetime] = []

    def waking() -> EscalationUnitOfWork:
        uow = unit_of_work()
        uow.wake_timers = woken.append
        return uow

    created = ticket_created(at=utcnow())
    await handlers.on_ticket_event(envelope_of(created), waking(), {"high": 60})
    assert woken == [created.occurred_at + timedelta(seconds=60)]

    async with waking() as uow:
        await handlers.apply_ticket_event(
            uow, envelope_of(ticket_created("t-9")), default_policy({"high": 60})
        )
        await uow.rollback()
    assert len(woken) == 1


def test_the_timer_table_fires_sla_and_preventive_timers() -> None:
    class NoOpener:
        async def open_ticket(
            self, tenant_id: str, body: dict[str, Any], idempotency_key: str
        ) -> str:
            raise AssertionError("not called")

    table = handlers.timer_table(default_policy({"high": 60}), NoOpener(), timedelta(minutes=5))
    assert table.kinds == {
        "sla.breach",
        "sla.warning",
        "sla.escalation",
        preventive.OCCURRENCE_TIMER,
    }

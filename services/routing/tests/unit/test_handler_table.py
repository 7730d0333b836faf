"""Routing's consumer through the runtime's table: one transaction per batch, no handler opening
or committing, the queue drained and the timer loop woken only after the commit."""

from datetime import datetime

from routing_support import Database, assigned, envelope, events_of, register, table_consumer

from helpline_routing.service_layer import admin, handlers, offers
from helpline_routing.service_layer.decisions import (
    AGENT_IDLE,
    HAND_BACK,
    OFFER_EXPIRY,
    RELAXATION,
)
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared.events import (
    Event,
    MessageAdded,
    Requester,
    SlaBreached,
    SlaEscalated,
    TicketCreated,
    TicketStatusChanged,
    TicketUpdated,
    UserDeactivated,
)
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import (
    FakeKafkaConsumer,
    RecordingProducer,
    StatementLog,
    consumer_record,
)


def new_ticket(ticket_id: str) -> TicketCreated:
    return TicketCreated(
        tenant_id="acme",
        ticket_id=ticket_id,
        occurred_at=utcnow(),
        subject="s",
        description="d",
        requester=Requester(email="cy@example.org"),
        priority="normal",
        type="question",
        tags=("exports",),
        channel="api",
    )


def solved(ticket_id: str) -> TicketStatusChanged:
    return TicketStatusChanged(
        tenant_id="acme",
        ticket_id=ticket_id,
        occurred_at=utcnow(),
        previous_status="open",
        status="solved",
    )


def test_the_table_applies_only_the_events_routing_needs() -> None:
    assert handlers.handler_table().event_types == {
        event.event_type
        for event in (
            TicketCreated,
            TicketStatusChanged,
            TicketUpdated,
            SlaEscalated,
            MessageAdded,
            UserDeactivated,
        )
    }
    assert handlers.handler_table().get(SlaBreached.event_type) is None


def test_the_timer_table_fires_routing_s_four_timer_kinds() -> None:
    assert offers.timer_table().kinds == {OFFER_EXPIRY, HAND_BACK, RELAXATION, AGENT_IDLE}


async def test_a_batch_is_one_transaction_and_the_freed_capacity_drains_after_its_commit(
    database: Database,
) -> None:
    uow, engine = database
    agent_id = await register(uow, capacity=1)
    drained: list[str] = []

    def unit_of_work() -> RoutingUnitOfWork:
        made = uow()
        made.drain_soon = drained.append
        return made

    producer = RecordingProducer()
    records: list[Event] = [new_ticket("t1"), new_ticket("t2"), solved("t1")]
    log = StatementLog(engine)
    await table_consumer(unit_of_work, producer).consume(
        [consumer_record(event, offset=n) for n, event in enumerate(records)], FakeKafkaConsumer()
    )

    # A handler that opened, committed or claimed would have been refused and dead-lettered.
    assert producer.sent == []
    assert log.count("COMMIT") == 1
    assert log.count("INSERT INTO processed_events") == 1
    # The pool, the rules and the settings are read once for the batch, not per event (the
    # settings not even once: kept since the registration read them, their version unchanged).
    assert log.count("SELECT agent_pool_versions.") == 1
    assert log.count("SELECT rule_sets.") == 1
    assert log.count("SELECT tenant_settings.") == 0
    assert await assigned(engine) == [("t1", agent_id)]
    assert [e.ticket_id for e in await events_of(engine, "queued")] == ["t2"]
    assert drained == ["acme"]
    assert await handlers.drain(uow(), "acme") == 1
    assert await assigned(engine) == [("t1", agent_id), ("t2", agent_id)]


async def test_nothing_is_drained_and_no_timer_loop_woken_when_the_batch_rolls_back(
    database: Database,
) -> None:
    uow, _engine = database
    await admin.save_settings("acme", {"manual_acceptance": True}, uow())
    await register(uow, capacity=1)
    drained: list[str] = []
    woken: list[datetime] = []
    async with uow() as unit:
        unit.drain_soon, unit.wake_timers = drained.append, woken.append
        with unit.lent_to_handler():
            await handlers.handler_table().get(TicketCreated.event_type)(  # type: ignore[misc]
                unit, envelope(new_ticket("t1"))
            )
        await unit.rollback()
    assert (drained, woken) == ([], [])

    async with uow() as unit:
        unit.drain_soon, unit.wake_timers = drained.append, woken.append
        with unit.lent_to_handler():
            await handlers.handler_table().get(TicketCreated.event_type)(  # type: ignore[misc]
                unit, envelope(new_ticket("t1"))
            )
        await unit.commit()
    assert len(woken) == 1  # the offer's expiry timer


async def test_the_drainer_drains_the_tenants_a_commit_woke_it_for(database: Database) -> None:
    uow, engine = database
    agent_id = await register(uow, capacity=1)
    drainer = handlers.QueueDrainer(uow)

    def unit_of_work() -> RoutingUnitOfWork:
        made = uow()
        made.drain_soon = drainer.wake
        return made

    await table_consumer(unit_of_work, RecordingProducer()).consume(
        [
            consumer_record(event, offset=n)
            for n, event in enumerate([new_ticket("t1"), new_ticket("t2"), solved("t1")])
        ],
        FakeKafkaConsumer(),
    )
    assert await assigned(engine) == [("t1", agent_id)]
    await drainer.stop()
    await drainer.run()
    assert await assigned(engine) == [("t1", agent_id), ("t2", agent_id)]

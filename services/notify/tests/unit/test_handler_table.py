"""Notify's consumer through the runtime's table: one transaction per batch, no handler opening
or committing, unwanted events skipped undecoded, the worker woken only after the commit."""

import pytest
from notify_testkit import (
    NOW,
    TENANT,
    UnitOfWorkFactory,
    composer,
    envelope_of,
    ledger,
    new_ticket_id,
    published,
    ticket_assigned,
    ticket_created,
)
from opentelemetry.trace import NoOpTracer
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_notify.service_layer import handlers
from helpline_notify.service_layer.unit_of_work import NotifyUnitOfWork
from helpline_shared.events import (
    ApiKeyCreated,
    NotificationDelivered,
    SlaClockStarted,
    TeamChanged,
    TicketCreated,
    UserCreated,
)
from helpline_shared.runtime.consumer import DeadLetters, HandlerTable, TableConsumer
from helpline_shared.runtime.testing import (
    FakeKafkaConsumer,
    RecordingProducer,
    StatementLog,
    consumer_record,
    raw_record,
)

POLICY = handlers.EmailPolicy(
    escalation_email="escalations@example.com", email_domain="mail.acme.example"
)


def table() -> HandlerTable[NotifyUnitOfWork]:
    return handlers.handler_table(POLICY, composer())


def test_the_table_applies_ticket_and_directory_events_and_skips_the_rest() -> None:
    wanted = table().event_types
    assert {
        TicketCreated.event_type,
        SlaClockStarted.event_type,
        UserCreated.event_type,
        TeamChanged.event_type,
    } <= wanted
    assert ApiKeyCreated.event_type not in wanted
    assert NotificationDelivered.event_type not in wanted


def user_created(user_id: str) -> UserCreated:
    return UserCreated(
        tenant_id=TENANT,
        occurred_at=NOW,
        user_id=user_id,
        name="Lea",
        email="lea@example.com",
        role="lead",
        teams=("printers",),
    )


async def test_a_batch_of_events_is_one_transaction_and_wakes_the_worker_after_it(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    woken: list[int] = []

    def waking() -> NotifyUnitOfWork:
        uow = unit_of_work()
        uow.wake_worker = lambda: woken.append(log.count("COMMIT"))
        return uow

    producer = RecordingProducer()
    consumer = TableConsumer(
        table=table(),
        unit_of_work=waking,
        dead_letters=DeadLetters(producer, "helpline-notify"),
        tracer=NoOpTracer(),
        group="helpline-notify",
    )
    first, second = new_ticket_id(), new_ticket_id()
    events = [
        user_created("u-lea"),
        ticket_created(first),
        ticket_assigned(first),
        ticket_created(second),
    ]
    log = StatementLog(engine)
    await consumer.consume(
        [
            consumer_record(event, offset=n, topic="helpline.tickets")
            for n, event in enumerate(events)
        ],
        FakeKafkaConsumer(),
    )

    # One partition's batch, one transaction; a handler that opened, committed or claimed
    # would have been refused and dead-lettered.
    assert producer.sent == []
    assert log.count("COMMIT") == 1
    assert log.count("INSERT INTO processed_events") == 1
    assert woken and set(woken) == {1}  # only once the batch's one commit is done
    assert [d.destination for d in await ledger(unit_of_work, first) if d.channel == "email"] == [
        "carol@example.com",
        "ann@example.com",
    ]
    async with unit_of_work() as uow:
        assert (await uow.directory.person(TENANT, "u-lea")) is not None


async def test_events_notifying_nobody_cost_no_transaction_of_their_own(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    woken: list[bool] = []

    def waking() -> NotifyUnitOfWork:
        uow = unit_of_work()
        uow.wake_worker = lambda: woken.append(True)
        return uow

    producer = RecordingProducer()
    consumer = TableConsumer(
        table=table(),
        unit_of_work=waking,
        dead_letters=DeadLetters(producer, "helpline-notify"),
        tracer=NoOpTracer(),
        group="helpline-notify",
    )
    log = StatementLog(engine)
    # Not even decoded: a body that is no event would otherwise be dead-lettered.
    kinds = (ApiKeyCreated.event_type, NotificationDelivered.event_type)
    unwanted = [
        raw_record([("ce_type", kind.encode())], b"not json", offset=n)
        for n, kind in enumerate(kinds)
    ]
    await consumer.consume(unwanted, FakeKafkaConsumer())
    assert log.statements == [] and producer.sent == []

    await consumer.consume(
        [
            consumer_record(user_created("u-1"), offset=2),
            consumer_record(user_created("u-2"), offset=3),
        ],
        FakeKafkaConsumer(),
    )
    assert log.count("COMMIT") == 1
    assert woken == []  # nothing queued: the worker is left asleep
    assert await published(engine) == []


async def test_a_replayed_event_is_applied_once(unit_of_work: UnitOfWorkFactory) -> None:
    ticket_id = new_ticket_id()
    envelope = envelope_of(ticket_created(ticket_id))
    assert await handlers.on_event(envelope, unit_of_work(), POLICY, composer()) == 1
    assert await handlers.on_event(envelope, unit_of_work(), POLICY, composer()) == 0
    assert len(await ledger(unit_of_work, ticket_id)) == 1


async def test_a_webhook_body_is_built_only_for_a_matching_endpoint(
    unit_of_work: UnitOfWorkFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object) -> str:
        raise AssertionError("a body was built though no endpoint wants the event")

    monkeypatch.setattr(handlers, "webhook_body", refuse)
    assert (
        await handlers.on_event(
            envelope_of(ticket_created(new_ticket_id())), unit_of_work(), POLICY, composer()
        )
        == 1
    )

"""A delivery that sent no mail (a webhook's) changes nothing in intake: it is acknowledged
without a transaction or an inbox row, while an email's Message-ID is still remembered."""

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from opentelemetry.trace import NoOpTracer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_intake.adapters.orm import metadata
from helpline_intake.bootstrap import MIGRATIONS
from helpline_intake.service_layer import handlers
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared import topics
from helpline_shared.envelope import from_record, to_record
from helpline_shared.events import Channel, NotificationDelivered, TicketCreated
from helpline_shared.runtime.consumer import DeadLetters, TableConsumer
from helpline_shared.runtime.db import inbox_table, utcnow
from helpline_shared.runtime.testing import (
    FakeKafkaConsumer,
    RecordingProducer,
    StatementLog,
    consumer_record,
    sqlite_units_of_work,
)

Factory = Callable[[], IntakeUnitOfWork]
INBOX = inbox_table(metadata)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[tuple[Factory, AsyncEngine]]:
    async with sqlite_units_of_work(
        tmp_path / "intake.db", MIGRATIONS, metadata, IntakeUnitOfWork
    ) as made:
        yield made


def delivered(n: int, channel: Channel, message_id: str | None) -> NotificationDelivered:
    return NotificationDelivered(
        tenant_id="acme",
        ticket_id=f"t-{n}",
        occurred_at=utcnow(),
        notification_id=f"n-{n}",
        channel=channel,
        trigger_event_id=f"e-{n}",
        trigger_event_type=TicketCreated.event_type,
        attempt=1,
        outbound_message_id=message_id,
    )


async def consume(unit_of_work: Factory, events: list[NotificationDelivered]) -> None:
    producer = RecordingProducer()
    consumer = TableConsumer(
        table=handlers.handler_table(),
        unit_of_work=unit_of_work,
        dead_letters=DeadLetters(producer, "helpline-intake"),
        tracer=NoOpTracer(),
        group="helpline-intake",
    )
    records = [
        consumer_record(event, offset=n, topic=topics.NOTIFICATIONS)
        for n, event in enumerate(events)
    ]
    await consumer.consume(records, FakeKafkaConsumer())
    assert producer.sent == []


async def inbox_rows(unit_of_work: Factory) -> int:
    async with unit_of_work() as uow:
        return int((await uow.session.execute(select(func.count()).select_from(INBOX))).scalar())


async def test_a_batch_of_webhook_deliveries_costs_no_statement(
    database: tuple[Factory, AsyncEngine],
) -> None:
    unit_of_work, engine = database
    log = StatementLog(engine)

    await consume(unit_of_work, [delivered(n, "webhook", None) for n in range(5)])

    assert log.statements == []


async def test_only_the_deliveries_that_sent_mail_are_claimed_and_applied(
    database: tuple[Factory, AsyncEngine],
) -> None:
    unit_of_work, _ = database
    events = [
        delivered(0, "webhook", None),
        delivered(1, "email", "<sent-1@helpline.test>"),
        delivered(2, "email", "not a message id"),
        delivered(3, "webhook", None),
    ]

    await consume(unit_of_work, events)

    assert await inbox_rows(unit_of_work) == 1
    async with unit_of_work() as uow:
        assert await uow.mail.thread_ticket("acme", ["sent-1@helpline.test"]) == "t-1"


async def test_the_check_names_the_deliveries_without_a_message_id() -> None:
    envelopes = [
        from_record(record.headers, record.value)
        for record in (
            to_record(delivered(0, "webhook", None), source="/tests"),
            to_record(delivered(1, "email", "<sent-1@helpline.test>"), source="/tests"),
        )
    ]

    assert await handlers.unneeded(envelopes) == {envelopes[0].id}

"""A burst's shape (one record per transaction): a ticket's creation reads the ticket with the
settings version, the requester with the loop cap's count, writes and commits; its email is
handed to the worker, which records the outcome in one transaction and claims nothing."""

from datetime import timedelta

from notify_testkit import UnitOfWorkFactory, composer, new_ticket_id, ticket_created
from opentelemetry.trace import NoOpTracer
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_notify.adapters.fakes import FakeMailer, FakeWebhookSender
from helpline_notify.adapters.rendering import JinjaRenderer
from helpline_notify.service_layer import handlers
from helpline_notify.service_layer.unit_of_work import NotifyUnitOfWork
from helpline_notify.service_layer.worker import DeliveryWorker, WorkerOptions
from helpline_shared.runtime.consumer import DeadLetters, TableConsumer
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import (
    FakeKafkaConsumer,
    RecordingProducer,
    StatementLog,
    consumer_record,
)

POLICY = handlers.EmailPolicy(
    escalation_email="escalations@example.com", email_domain="mail.acme.example"
)


def kinds(statements: list[str]) -> list[str]:
    return [" ".join(statement.split()[:3]) for statement in statements]


async def test_a_created_ticket_costs_seven_statements_and_its_email_five(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    mailer = FakeMailer()
    later = utcnow() + timedelta(seconds=1)
    worker = DeliveryWorker(
        unit_of_work,
        mailer,
        FakeWebhookSender(),
        NoOpTracer(),
        WorkerOptions(email_domain="mail.acme.example"),
        renderer=JinjaRenderer(),
        clock=lambda: later,
    )
    woken: list[bool] = []

    def handing() -> NotifyUnitOfWork:
        uow = unit_of_work()
        uow.hand_off = worker
        uow.wake_worker = lambda: woken.append(True)
        return uow

    consumer = TableConsumer(
        table=handlers.handler_table(POLICY, composer(), unit_of_work),
        unit_of_work=handing,
        dead_letters=DeadLetters(RecordingProducer(), "helpline-notify"),
        tracer=NoOpTracer(),
        group="helpline-notify",
    )
    log = StatementLog(engine)

    await consumer.consume(
        [consumer_record(ticket_created(new_ticket_id()), offset=0, topic="helpline.tickets")],
        FakeKafkaConsumer(),
    )
    consuming = list(log.statements)
    await worker.drain()

    assert kinds(consuming) == [
        "BEGIN IMMEDIATE",
        "SELECT tickets.ticket_id, tickets.tenant_id,",
        "SELECT people.tenant_id, people.user_id,",
        "INSERT INTO tickets",
        "INSERT INTO deliveries",
        "INSERT INTO processed_events",  # the inbox claim rides in the commit
        "COMMIT",
    ], consuming
    assert "tenant_settings.version" in consuming[1]  # the version read with the ticket
    assert "count(*)" in consuming[2]  # the loop cap's count read with the requester
    assert kinds(log.statements[len(consuming) :]) == [
        "BEGIN IMMEDIATE",
        "UPDATE deliveries SET",
        "INSERT INTO delivery_attempts",
        "INSERT INTO outbox",
        "COMMIT",
    ]
    assert len(mailer.sent) == 1 and woken == []

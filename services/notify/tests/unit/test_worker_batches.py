"""The delivery worker claims a batch in one transaction and records the batch's outcomes in one
more, whatever the batch's size; suppressions are read with the claim."""

from datetime import timedelta

from notify_testkit import (
    TENANT,
    UnitOfWorkFactory,
    envelope_of,
    ledger,
    new_ticket_id,
    notify_of,
    published,
    ticket_assigned,
    ticket_created,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NoOpTracer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_notify.adapters.fakes import FakeMailer, FakeWebhookSender
from helpline_notify.adapters.orm import metadata
from helpline_notify.adapters.rendering import JinjaRenderer
from helpline_notify.service_layer import endpoints
from helpline_notify.service_layer.worker import DeliveryWorker, WorkerOptions
from helpline_shared.events import NotificationDelivered, NotificationSuppressed
from helpline_shared.runtime.db import outbox_table, utcnow
from helpline_shared.runtime.testing import StatementLog


def worker(
    unit_of_work: UnitOfWorkFactory, mailer: FakeMailer, webhooks: FakeWebhookSender
) -> DeliveryWorker:
    later = utcnow() + timedelta(seconds=1)
    return DeliveryWorker(
        unit_of_work,
        mailer,
        webhooks,
        NoOpTracer(),
        WorkerOptions(email_domain="mail.acme.example", batch_size=50, max_per_destination=50),
        renderer=JinjaRenderer(),
        clock=lambda: later,
        jitter=lambda: 0.0,
    )


async def test_a_batch_costs_two_transactions_however_many_deliveries(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await endpoints.register_webhook_endpoint(
        endpoints.RegisterWebhookEndpoint(
            tenant_id=TENANT,
            url="https://hooks.example.com/in",
            event_types=("*",),
            allow_private_networks=False,
        ),
        unit_of_work(),
    )
    tickets = [new_ticket_id() for _ in range(5)]
    for ticket_id in tickets:
        await notify_of(envelope_of(ticket_created(ticket_id)), unit_of_work)
        await notify_of(envelope_of(ticket_assigned(ticket_id)), unit_of_work)
    async with unit_of_work() as uow:
        await uow.suppressions.add(TENANT, "Carol@example.com", "bounced 550", utcnow())
        await uow.commit()
    mailer, webhooks = FakeMailer(), FakeWebhookSender()
    log = StatementLog(engine)

    assert await worker(unit_of_work, mailer, webhooks).deliver_due() == 20

    assert log.count("COMMIT") == 2  # the claim, then every outcome together
    assert log.count("INSERT INTO delivery_attempts") == 1
    assert log.count("UPDATE deliveries") == 2
    assert len(mailer.sent) == 5 and len(webhooks.requests) == 10  # carol's five suppressed
    for ticket_id in tickets:
        assert {d.status for d in await ledger(unit_of_work, ticket_id)} == {
            "delivered",
            "suppressed",
        }
    types = [e.type for e in await published(engine)]
    assert types.count(NotificationDelivered.event_type) == 15
    assert types.count(NotificationSuppressed.event_type) == 5


async def test_an_outcome_of_a_delivery_taken_over_is_dropped(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    ticket_id = new_ticket_id()
    await notify_of(envelope_of(ticket_assigned(ticket_id)), unit_of_work)
    first = worker(unit_of_work, FakeMailer(), FakeWebhookSender())
    [(claimed, endpoint)] = await first.claim_due(10)
    async with unit_of_work() as uow:  # another worker claimed it again after the lease
        [(again)] = await uow.deliveries.claim_due(
            utcnow() + timedelta(days=1), utcnow() + timedelta(days=2), 10
        )
        await uow.commit()
    await first.deliver(claimed, endpoint)
    async with unit_of_work() as uow:
        assert await uow.deliveries.attempts(TENANT, claimed.id) == []
        stored = await uow.deliveries.get(TENANT, claimed.id)
    assert stored is not None and stored.status == "pending"
    assert stored.attempts == again.attempts == 2


async def test_each_outcome_of_a_batch_continues_its_own_tickets_trace(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    provider = TracerProvider()
    traces = set()
    for _ in range(2):
        with provider.get_tracer("consumer").start_as_current_span("consume") as span:
            await notify_of(envelope_of(ticket_assigned(new_ticket_id())), unit_of_work)
        traces.add(format(span.get_span_context().trace_id, "032x"))
    later = utcnow() + timedelta(seconds=1)
    batch = DeliveryWorker(
        unit_of_work,
        FakeMailer(),
        FakeWebhookSender(),
        provider.get_tracer("worker"),
        WorkerOptions(email_domain="mail.acme.example"),
        renderer=JinjaRenderer(),
        clock=lambda: later,
        jitter=lambda: 0.0,
    )

    assert await batch.deliver_due() == 2

    outbox = outbox_table(metadata)
    async with engine.connect() as connection:
        rows = (await connection.execute(select(outbox.c.headers))).all()
    announced = {
        value.split("-")[1]
        for (headers,) in rows
        for name, value in headers
        if name == "traceparent"
    }
    assert announced == traces

"""The delivery worker: sends what is due, records each attempt, retries, gives up, isolates."""

import asyncio
import time
from datetime import timedelta

import pytest
from notify_testkit import (
    TENANT,
    Clock,
    UnitOfWorkFactory,
    envelope_of,
    ledger,
    new_ticket_id,
    notify_of,
    published,
    ticket_assigned,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_notify.adapters.fakes import FakeMailer, FakeWebhookSender
from helpline_notify.adapters.rendering import JinjaRenderer
from helpline_notify.domain.errors import DeliveryAttemptFailed, DestinationRefused
from helpline_notify.domain.retry import MAX_ATTEMPTS
from helpline_notify.service_layer import endpoints
from helpline_notify.service_layer.ports import WebhookRequest, WebhookResponse
from helpline_notify.service_layer.worker import DeliveryWorker, WorkerOptions
from helpline_shared.events import NotificationDelivered, NotificationFailed, NotificationSuppressed
from helpline_shared.runtime.db import utcnow


class Harness:
    """A worker on fakes, a hand-moved clock and an in-memory span exporter."""

    def __init__(self, unit_of_work: UnitOfWorkFactory, send_timeout: float = 15.0) -> None:
        self.unit_of_work = unit_of_work
        # Deliveries are created at the real time; the worker's clock starts just after it.
        self.clock = Clock(utcnow() + timedelta(seconds=1))
        self.start = self.clock.now
        self.mailer = FakeMailer()
        self.webhooks = FakeWebhookSender()
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.worker = DeliveryWorker(
            unit_of_work,
            self.mailer,
            self.webhooks,
            self.tracer_provider.get_tracer("test"),
            WorkerOptions(email_domain="mail.acme.example", send_timeout=send_timeout),
            renderer=JinjaRenderer(),
            clock=self.clock,
            jitter=lambda: 0.0,
        )

    async def add_endpoint(self, url: str = "https://hooks.example.com/in") -> str:
        endpoint = await endpoints.register_webhook_endpoint(
            endpoints.RegisterWebhookEndpoint(
                tenant_id=TENANT, url=url, event_types=("*",), allow_private_networks=False
            ),
            self.unit_of_work(),
        )
        return endpoint.id

    async def assign(self, ticket_id: str) -> None:
        await notify_of(envelope_of(ticket_assigned(ticket_id)), self.unit_of_work)


@pytest.fixture
def harness(unit_of_work: UnitOfWorkFactory) -> Harness:
    return Harness(unit_of_work)


async def test_due_deliveries_are_sent_recorded_and_announced(
    harness: Harness,
    unit_of_work: UnitOfWorkFactory,
    engine: AsyncEngine,
) -> None:
    ticket_id = new_ticket_id()
    await harness.add_endpoint()
    await harness.assign(ticket_id)

    assert await harness.worker.deliver_due() == 2

    [email] = harness.mailer.sent
    [request] = harness.webhooks.requests
    deliveries = {d.channel: d for d in await ledger(unit_of_work, ticket_id)}
    assert email.message_id == f"<{deliveries['email'].id}@mail.acme.example>"
    assert email.to == "ann@example.com"
    assert request.message_id == deliveries["webhook"].id
    assert all(d.status == "delivered" and d.attempts == 1 for d in deliveries.values())
    events = [e.event for e in await published(engine)]
    delivered = [event for event in events if isinstance(event, NotificationDelivered)]
    assert len(delivered) == len(events) == 2
    assert {event.notification_id: event.outbound_message_id for event in delivered} == {
        deliveries["email"].id: email.message_id,
        deliveries["webhook"].id: None,
    }
    assert await harness.worker.deliver_due() == 0


async def test_failed_attempt_is_retried_on_schedule_with_the_same_webhook_id(
    harness: Harness,
    unit_of_work: UnitOfWorkFactory,
    engine: AsyncEngine,
) -> None:
    ticket_id = new_ticket_id()
    await harness.add_endpoint()
    harness.webhooks.respond = lambda _request: WebhookResponse(500)
    await harness.assign(ticket_id)

    await harness.worker.deliver_due()
    [webhook] = [d for d in await ledger(unit_of_work, ticket_id) if d.channel == "webhook"]
    assert (webhook.status, webhook.attempts, webhook.last_error) == ("pending", 1, "HTTP 500")
    assert webhook.next_attempt_at == harness.start + timedelta(seconds=5)
    [failed] = [e.event for e in await published(engine) if isinstance(e.event, NotificationFailed)]
    assert (failed.will_retry, failed.attempt, failed.error) == (True, 1, "HTTP 500")

    harness.clock.advance(timedelta(seconds=4))
    assert await harness.worker.deliver_due() == 0
    harness.clock.advance(timedelta(seconds=1))
    harness.webhooks.respond = lambda _request: WebhookResponse(204)
    assert await harness.worker.deliver_due() == 1
    first, second = harness.webhooks.requests
    assert first.message_id == second.message_id and first.body == second.body
    [webhook] = [d for d in await ledger(unit_of_work, ticket_id) if d.channel == "webhook"]
    assert (webhook.status, webhook.attempts) == ("delivered", 2)


async def test_delivery_fails_for_good_after_eight_attempts(
    harness: Harness,
    unit_of_work: UnitOfWorkFactory,
    engine: AsyncEngine,
) -> None:
    ticket_id = new_ticket_id()
    harness.mailer.failure = DeliveryAttemptFailed("SMTP: connection refused")
    await harness.assign(ticket_id)

    for _attempt in range(MAX_ATTEMPTS):
        assert await harness.worker.deliver_due() == 1
        harness.clock.advance(timedelta(hours=11))

    [email] = await ledger(unit_of_work, ticket_id)
    assert (email.status, email.attempts, email.next_attempt_at) == ("failed", 8, None)
    retries = [
        e.event.will_retry
        for e in await published(engine)
        if isinstance(e.event, NotificationFailed)
    ]
    assert retries == [True] * 7 + [False]
    assert await harness.worker.deliver_due() == 0


async def test_retry_after_of_a_throttling_endpoint_is_honoured(
    harness: Harness,
    unit_of_work: UnitOfWorkFactory,
) -> None:
    ticket_id = new_ticket_id()
    await harness.add_endpoint()
    harness.webhooks.respond = lambda _request: WebhookResponse(429, timedelta(seconds=90))
    await harness.assign(ticket_id)

    await harness.worker.deliver_due()
    [webhook] = [d for d in await ledger(unit_of_work, ticket_id) if d.channel == "webhook"]
    assert webhook.next_attempt_at == harness.start + timedelta(seconds=90)


async def test_410_gone_disables_the_endpoint(
    harness: Harness, unit_of_work: UnitOfWorkFactory
) -> None:
    endpoint_id = await harness.add_endpoint()
    harness.webhooks.respond = lambda _request: WebhookResponse(410)
    ticket_id = new_ticket_id()
    await harness.assign(ticket_id)

    await harness.worker.deliver_due()

    [webhook] = [d for d in await ledger(unit_of_work, ticket_id) if d.channel == "webhook"]
    assert (webhook.status, webhook.attempts) == ("failed", 1)
    async with unit_of_work() as uow:
        endpoint = await uow.endpoints.get(TENANT, endpoint_id)
    assert endpoint is not None and not endpoint.enabled
    later_ticket = new_ticket_id()
    await harness.assign(later_ticket)
    assert sorted((d.channel, d.status) for d in await ledger(unit_of_work, later_ticket)) == [
        ("email", "pending"),
        ("webhook", "suppressed"),
    ]


async def test_refused_destination_is_a_failed_attempt_with_its_reason(
    harness: Harness,
    unit_of_work: UnitOfWorkFactory,
) -> None:
    await harness.add_endpoint()

    def refuse(_request: WebhookRequest) -> WebhookResponse:
        raise DestinationRefused("refused: the host resolves to a private address")

    harness.webhooks.respond = refuse
    ticket_id = new_ticket_id()
    await harness.assign(ticket_id)
    await harness.worker.deliver_due()

    [webhook] = [d for d in await ledger(unit_of_work, ticket_id) if d.channel == "webhook"]
    assert webhook.last_error == "refused: the host resolves to a private address"
    assert (webhook.status, webhook.attempts) == ("pending", 1)


async def test_slow_endpoint_does_not_hold_up_the_others(unit_of_work: UnitOfWorkFactory) -> None:
    harness = Harness(unit_of_work, send_timeout=0.3)
    slow = await harness.add_endpoint("https://slow.example.com/in")
    await harness.add_endpoint("https://fast.example.com/in")

    class SlowAndFast(FakeWebhookSender):
        async def send(self, request: WebhookRequest) -> WebhookResponse:
            if "slow" in request.url:
                await asyncio.sleep(30)
            return await super().send(request)

    harness.worker._webhooks = SlowAndFast()
    ticket_id = new_ticket_id()
    await harness.assign(ticket_id)

    started = time.monotonic()
    assert await harness.worker.deliver_due() == 3
    assert time.monotonic() - started < 2.0

    outcome = {
        d.destination: (d.status, d.last_error) for d in await ledger(unit_of_work, ticket_id)
    }
    assert outcome[slow] == ("pending", "no answer within 0.3 s")
    assert sorted(status for status, _error in outcome.values()) == [
        "delivered",
        "delivered",
        "pending",
    ]


async def test_a_claimed_delivery_is_leased_to_one_worker(harness: Harness) -> None:
    await harness.assign(new_ticket_id())

    assert len(await harness.worker.claim_due(10)) == 1
    assert await harness.worker.claim_due(10) == []
    harness.clock.advance(harness.worker._options.lease + timedelta(seconds=1))
    [(reclaimed, _endpoint)] = await harness.worker.claim_due(10)
    assert reclaimed.attempts == 2


async def test_result_of_a_worker_whose_lease_ran_out_is_dropped(
    harness: Harness,
    unit_of_work: UnitOfWorkFactory,
) -> None:
    ticket_id = new_ticket_id()
    await harness.assign(ticket_id)
    [(stale, _)] = await harness.worker.claim_due(10)
    harness.clock.advance(harness.worker._options.lease + timedelta(seconds=1))
    [(current, _)] = await harness.worker.claim_due(10)

    await harness.worker.deliver(current, None)
    await harness.worker.deliver(stale, None)

    [email] = await ledger(unit_of_work, ticket_id)
    assert (email.status, email.attempts) == ("delivered", 2)


async def test_each_send_continues_the_trace_of_the_event_that_caused_it(
    harness: Harness,
) -> None:
    consumer_tracer = TracerProvider().get_tracer("consumer")
    with consumer_tracer.start_as_current_span("consume ticket.assigned") as consumer_span:
        await harness.assign(new_ticket_id())
    consumer = consumer_span.get_span_context()

    await harness.worker.deliver_due()

    [span] = harness.spans.get_finished_spans()
    assert span.name == "notify send email"
    assert span.parent is not None
    assert (span.context.trace_id, span.parent.span_id) == (consumer.trace_id, consumer.span_id)


async def test_run_loop_delivers_until_stopped(
    harness: Harness, unit_of_work: UnitOfWorkFactory
) -> None:
    ticket_id = new_ticket_id()
    await harness.assign(ticket_id)
    runner = asyncio.create_task(harness.worker.run())
    harness.worker.wake()
    await asyncio.wait_for(harness.mailer.first_sent.wait(), 5)
    await harness.worker.stop(grace=5)
    await asyncio.wait_for(runner, 5)

    assert [d.status for d in await ledger(unit_of_work, ticket_id)] == ["delivered"]


async def test_a_queued_webhook_to_an_endpoint_disabled_since_is_suppressed_not_sent(
    harness: Harness,
    unit_of_work: UnitOfWorkFactory,
    engine: AsyncEngine,
) -> None:
    endpoint_id = await harness.add_endpoint()
    ticket_id = new_ticket_id()
    await harness.assign(ticket_id)
    async with unit_of_work() as uow:
        await uow.endpoints.disable(endpoint_id, "disabled by API")
        await uow.commit()

    await harness.worker.deliver_due()

    assert harness.webhooks.requests == []
    [webhook] = [d for d in await ledger(unit_of_work, ticket_id) if d.channel == "webhook"]
    assert webhook.status == "suppressed"
    [event] = [
        e.event for e in await published(engine) if isinstance(e.event, NotificationSuppressed)
    ]
    assert (event.reason, event.detail) == ("disabled_endpoint", "disabled by API")

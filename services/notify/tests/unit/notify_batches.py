"""What the statement-counting tests share: a batch of events through notify's handler table
as the runtime applies it, the ticket events they feed it, and a worker for what it queued."""

from collections.abc import Sequence
from datetime import timedelta

from notify_testkit import NOW, TENANT, UnitOfWorkFactory, composer
from opentelemetry.trace import NoOpTracer

from helpline_notify.adapters.fakes import FakeMailer, FakeWebhookSender
from helpline_notify.adapters.rendering import JinjaRenderer
from helpline_notify.service_layer import handlers
from helpline_notify.service_layer.worker import DeliveryWorker, WorkerOptions
from helpline_shared.events import Event, SlaClockStarted, TicketClassified, TicketStatusChanged
from helpline_shared.runtime.consumer import DeadLetters, TableConsumer
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import FakeKafkaConsumer, RecordingProducer, consumer_record


def policy(recipient_cap: int = 20) -> handlers.EmailPolicy:
    """The email policy of these tests."""
    return handlers.EmailPolicy(
        escalation_email="escalations@example.com",
        email_domain="mail.acme.example",
        recipient_cap=recipient_cap,
    )


async def consume(
    unit_of_work: UnitOfWorkFactory,
    events: Sequence[Event],
    *,
    cap: int = 20,
    skip_unneeded: bool = False,
) -> RecordingProducer:
    """Apply ``events`` as one partition's batch, as the runtime does (``skip_unneeded``: with
    the unneeded-records check bootstrap gives the table); the dead letters it sent."""
    producer = RecordingProducer()
    consumer = TableConsumer(
        table=handlers.handler_table(
            policy(cap), composer(), unit_of_work if skip_unneeded else None
        ),
        unit_of_work=unit_of_work,
        dead_letters=DeadLetters(producer, "helpline-notify"),
        tracer=NoOpTracer(),
        group="helpline-notify",
    )
    await consumer.consume(
        [
            consumer_record(event, offset=n, topic="helpline.tickets")
            for n, event in enumerate(events)
        ],
        FakeKafkaConsumer(),
    )
    return producer


def status_changed(
    ticket_id: str, previous: str = "new", status: str = "open"
) -> TicketStatusChanged:
    """The ticket's status moved."""
    return TicketStatusChanged(
        tenant_id=TENANT,
        ticket_id=ticket_id,
        occurred_at=NOW,
        previous_status=previous,
        status=status,
    )


def clock_started(ticket_id: str) -> SlaClockStarted:
    """The ticket's first-response clock started."""
    return SlaClockStarted(
        tenant_id=TENANT,
        ticket_id=ticket_id,
        occurred_at=NOW,
        metric="first_response",
        clock_version=1,
        reason="r",
        deadline=NOW,
        started_at=NOW,
        target_seconds=3600,
    )


def classified(ticket_id: str) -> TicketClassified:
    """Routing classified the ticket: urgent, for the printers team."""
    return TicketClassified(
        tenant_id=TENANT,
        ticket_id=ticket_id,
        occurred_at=NOW,
        priority="urgent",
        team="printers",
        rule_id="r-1",
        rule_version=1,
    )


def worker(
    unit_of_work: UnitOfWorkFactory, mailer: FakeMailer, options: WorkerOptions | None = None
) -> DeliveryWorker:
    """A delivery worker a second ahead of now (what was just queued is due), without jitter."""
    later = utcnow() + timedelta(seconds=1)
    return DeliveryWorker(
        unit_of_work,
        mailer,
        FakeWebhookSender(),
        NoOpTracer(),
        options or WorkerOptions(email_domain="mail.acme.example"),
        renderer=JinjaRenderer(),
        clock=lambda: later,
        jitter=lambda: 0.0,
    )

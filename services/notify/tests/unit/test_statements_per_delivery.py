"""What one delivery sent alone (a quiet pipeline's usual batch) costs in SQL: its outcome is
checked and written by one statement."""

from datetime import timedelta

from notify_testkit import (
    UnitOfWorkFactory,
    envelope_of,
    ledger,
    new_ticket_id,
    notify_of,
    ticket_assigned,
)
from opentelemetry.trace import NoOpTracer
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_notify.adapters.fakes import FakeMailer, FakeWebhookSender
from helpline_notify.adapters.rendering import JinjaRenderer
from helpline_notify.service_layer.worker import DeliveryWorker, WorkerOptions
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import StatementLog


def worker(unit_of_work: UnitOfWorkFactory, mailer: FakeMailer) -> DeliveryWorker:
    later = utcnow() + timedelta(seconds=1)
    return DeliveryWorker(
        unit_of_work,
        mailer,
        FakeWebhookSender(),
        NoOpTracer(),
        WorkerOptions(email_domain="mail.acme.example"),
        renderer=JinjaRenderer(),
        clock=lambda: later,
        jitter=lambda: 0.0,
    )


async def test_the_outcome_of_a_lone_delivery_is_one_update(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    ticket_id = new_ticket_id()
    await notify_of(envelope_of(ticket_assigned(ticket_id)), unit_of_work)
    mailer = FakeMailer()
    log = StatementLog(engine)

    assert await worker(unit_of_work, mailer).deliver_due() == 1

    assert len(mailer.sent) == 1
    settle = log.statements[log.statements.index("COMMIT") + 1 :]
    assert [s.split()[0] for s in settle if not s.startswith("INSERT")] == [
        "BEGIN",
        "UPDATE",
        "COMMIT",
    ], settle
    assert [d.status for d in await ledger(unit_of_work, ticket_id)] == ["delivered"]

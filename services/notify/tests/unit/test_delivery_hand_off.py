"""Deliveries queued by the consumer are leased to this process by their own INSERT and handed to
the worker after the commit: no claim round; a crash leaves a lease that runs out, and then any
replica's claim sends the delivery once."""

import asyncio
from datetime import datetime, timedelta

from notify_testkit import (
    UnitOfWorkFactory,
    composer,
    envelope_of,
    ledger,
    new_ticket_id,
    ticket_assigned,
)
from opentelemetry.trace import NoOpTracer
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_notify.adapters.fakes import FakeMailer, FakeWebhookSender
from helpline_notify.adapters.orm import metadata
from helpline_notify.adapters.rendering import JinjaRenderer
from helpline_notify.domain.model import Delivery
from helpline_notify.service_layer import handlers
from helpline_notify.service_layer.ports import DeliveryHandOff, Held, OutboundEmail
from helpline_notify.service_layer.worker import DeliveryWorker, WorkerOptions
from helpline_shared.envelope import Envelope
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import StatementLog

POLICY = handlers.EmailPolicy(
    escalation_email="escalations@example.com", email_domain="mail.acme.example"
)


def worker(
    unit_of_work: UnitOfWorkFactory, mailer: FakeMailer, now: datetime, **options: int
) -> DeliveryWorker:
    return DeliveryWorker(
        unit_of_work,
        mailer,
        FakeWebhookSender(),
        NoOpTracer(),
        WorkerOptions(email_domain="mail.acme.example", **options),  # type: ignore[arg-type]
        renderer=JinjaRenderer(),
        clock=lambda: now,
        jitter=lambda: 0.0,
    )


async def queue(
    unit_of_work: UnitOfWorkFactory, envelope: Envelope, hand_off: DeliveryHandOff
) -> list[bool]:
    """Apply ``envelope`` in a transaction whose deliveries may be leased to ``hand_off``;
    return the worker wake-ups it asked for."""
    woken: list[bool] = []
    uow = unit_of_work()
    uow.hand_off = hand_off
    uow.wake_worker = lambda: woken.append(True)
    await handlers.on_event(envelope, uow, POLICY, composer())
    return woken


class Crashed:
    """A process that leases (its INSERT commits the lease) and dies before it sends."""

    def __init__(self, leasing: DeliveryWorker) -> None:
        self.leasing = leasing

    def lease(self, delivery: Delivery, held: Held) -> bool:
        return self.leasing.lease(delivery, held)

    def take(self, leased: object) -> None:
        pass


async def test_a_queued_delivery_is_sent_by_its_hand_off_without_a_claim(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    ticket_id = new_ticket_id()
    mailer = FakeMailer()
    sender = worker(unit_of_work, mailer, utcnow() + timedelta(seconds=1))
    log = StatementLog(engine)

    woken = await queue(unit_of_work, envelope_of(ticket_assigned(ticket_id)), sender)
    await sender.drain()

    assert [email.to for email in mailer.sent] == ["ann@example.com"]
    assert woken == []  # nothing left for a claim to take
    delivering = log.statements[log.statements.index("COMMIT") + 1 :]
    assert [s.split()[0] for s in delivering] == ["BEGIN", "UPDATE", "INSERT", "INSERT", "COMMIT"]
    assert not [s for s in log.statements if s.startswith("SELECT deliveries.")]  # no claim
    [delivery] = await ledger(unit_of_work, ticket_id)
    assert (delivery.status, delivery.attempts) == ("delivered", 1)


async def test_a_lease_left_by_a_crash_is_claimed_by_any_replica_once_it_runs_out(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    ticket_id = new_ticket_id()
    now = utcnow() + timedelta(seconds=1)
    crashed_mail, other_mail, later_mail = FakeMailer(), FakeMailer(), FakeMailer()
    crashed = worker(unit_of_work, crashed_mail, now)
    await queue(unit_of_work, envelope_of(ticket_assigned(ticket_id)), Crashed(crashed))

    # Leased at insert: another replica may not take it while the lease holds...
    assert await worker(unit_of_work, other_mail, now).deliver_due() == 0
    # ...and takes it once the lease ran out, sending it exactly once.
    later = now + WorkerOptions(email_domain="x").lease + timedelta(seconds=1)
    assert await worker(unit_of_work, later_mail, later).deliver_due() == 1

    assert (len(crashed_mail.sent), len(other_mail.sent), len(later_mail.sent)) == (0, 0, 1)
    [delivery] = await ledger(unit_of_work, ticket_id)
    assert (delivery.status, delivery.attempts) == ("delivered", 2)


async def test_a_delivery_already_in_the_ledger_is_not_handed_off_again(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    ticket_id = new_ticket_id()
    mailer = FakeMailer()
    sender = worker(unit_of_work, mailer, utcnow() + timedelta(seconds=1))
    envelope = envelope_of(ticket_assigned(ticket_id))
    await queue(unit_of_work, envelope, sender)
    await sender.drain()
    # The inbox row purged: the same event is applied again and queues the same delivery id.
    async with engine.begin() as connection:
        await connection.execute(delete(metadata.tables["processed_events"]))

    await queue(unit_of_work, envelope, sender)
    await sender.drain()

    assert len(mailer.sent) == 1
    [delivery] = await ledger(unit_of_work, ticket_id)
    assert (delivery.status, delivery.attempts) == ("delivered", 1)


def test_the_worker_leases_no_more_than_a_destination_may_have_claimed() -> None:
    sender = worker(lambda: None, FakeMailer(), utcnow(), max_per_destination=1)  # type: ignore[arg-type,return-value]
    held = Held()

    def email(number: int, ordered: bool = False) -> Delivery:
        return Delivery(
            id=f"d-{number}",
            tenant_id="acme",
            ticket_id="t",
            channel="email",
            destination="ann@example.com",
            trigger_event_id="e",
            trigger_event_type="helpline.ticket.assigned.v1",
            payload="",
            subject=None,
            trace_headers={},
            created_at=utcnow(),
            ordered=ordered,
        )

    # Two per destination (its send slot and one wave waiting): the third is left to a claim.
    assert [sender.lease(email(n), held) for n in range(3)] == [True, True, False]
    # An ordered one may have to wait for an older one of its ticket: the claim decides.
    assert not sender.lease(email(4, ordered=True), Held())
    assert held == {"ann@example.com": 2}


class CountingMailer(FakeMailer):
    """Tells when it has sent ``expected`` emails."""

    def __init__(self, expected: int) -> None:
        super().__init__()
        self.expected = expected
        self.all_sent = asyncio.Event()

    async def send(self, email: OutboundEmail) -> None:
        await super().send(email)
        if len(self.sent) >= self.expected:
            self.all_sent.set()


async def test_a_delivery_refused_by_a_full_destination_is_claimed_when_a_slot_frees(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    mailer = CountingMailer(expected=3)
    now = utcnow() + timedelta(seconds=1)
    sender = DeliveryWorker(
        unit_of_work,
        mailer,
        FakeWebhookSender(),
        NoOpTracer(),
        WorkerOptions(
            email_domain="mail.acme.example",
            max_per_destination=1,
            poll_interval=3600.0,  # only a wake-up may claim in this test
            claim_interval=0.0,
        ),
        renderer=JinjaRenderer(),
        clock=lambda: now,
        jitter=lambda: 0.0,
    )
    woken = []
    for _ in range(3):  # all to ann, who may have two claimed: the third waits in the ledger
        woken += await queue(unit_of_work, envelope_of(ticket_assigned(new_ticket_id())), sender)
    assert woken == [True]

    running = asyncio.create_task(sender.run())
    try:
        await asyncio.wait_for(mailer.all_sent.wait(), timeout=10)
    finally:
        await sender.stop(grace=5)
        await running
    assert [email.to for email in mailer.sent] == ["ann@example.com"] * 3

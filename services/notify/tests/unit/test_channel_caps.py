"""Each channel has its own in-flight cap: a backlog of slow mail (waiting for an SMTP session)
does not take the slots a webhook queued after it needs, at the claim nor at the hand-off."""

import asyncio
from datetime import timedelta

from notify_testkit import TENANT, UnitOfWorkFactory, ledger
from test_worker_claims import Gate, GatedMailer, worker

from helpline_notify.adapters.fakes import FakeMailer, FakeWebhookSender
from helpline_notify.domain.model import Delivery
from helpline_notify.service_layer import endpoints
from helpline_notify.service_layer.ports import Held, WebhookRequest, WebhookResponse
from helpline_notify.service_layer.worker import WorkerOptions
from helpline_shared.runtime.db import utcnow

EARLY = utcnow() - timedelta(minutes=1)


def delivery(number: int, channel: str, destination: str) -> Delivery:
    return Delivery(
        id=f"d-{number:03}",
        tenant_id=TENANT,
        ticket_id=f"t-{number}",
        channel=channel,  # type: ignore[arg-type]
        destination=destination,
        trigger_event_id=f"e-{number}",
        trigger_event_type="helpline.ticket.created.v1",
        payload="{}",
        subject="s",
        trace_headers={},
        created_at=EARLY + timedelta(milliseconds=number),  # the webhook is queued last
    )


class TellingWebhooks(FakeWebhookSender):
    """Answers at once and tells the gate's waiter."""

    def __init__(self, gate: Gate) -> None:
        super().__init__()
        self.gate = gate

    async def send(self, request: WebhookRequest) -> WebhookResponse:
        answer = await super().send(request)
        self.gate.moved()
        return answer


def test_mail_may_have_two_waves_per_smtp_session_in_flight_and_webhooks_max_in_flight() -> None:
    options = WorkerOptions(email_domain="x", max_in_flight=200, mail_sessions=16)
    assert options.max_in_flight_by_channel == {"email": 32, "webhook": 200}


async def test_a_backlog_of_slow_mail_does_not_hold_back_a_webhook_queued_after_it(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    endpoint = await endpoints.register_webhook_endpoint(
        endpoints.RegisterWebhookEndpoint(
            tenant_id=TENANT,
            url="https://hooks.example.com/in",
            event_types=("helpline.ticket.created.v1",),
            allow_private_networks=False,
        ),
        unit_of_work(),
    )
    mails = [delivery(n, "email", f"person-{n}@example.com") for n in range(10)]
    async with unit_of_work() as uow:
        await uow.deliveries.add_all([*mails, delivery(99, "webhook", endpoint.id)])
        await uow.commit()
    gate = Gate()  # every mail waits (for an SMTP session, say) until the test lets it go
    webhooks = TellingWebhooks(gate)
    sender = worker(
        unit_of_work, GatedMailer(gate), webhooks, max_in_flight=2, mail_sessions=1, batch_size=50
    )
    runner = asyncio.create_task(sender.run())
    try:
        # Shared slots: the three oldest mails took every one and the webhook stayed queued.
        await gate.until(lambda: len(webhooks.requests) == 1)
        assert gate.waiting == 2, "mail in flight is capped at its channel's slots"
        claimed = sorted(d.id for d in await ledger(unit_of_work) if d.attempts)
        assert claimed == ["d-000", "d-001", "d-099"]
    finally:
        await sender.stop(grace=0.1)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


def test_the_hand_off_leases_no_more_mail_than_its_channel_may_have_in_flight() -> None:
    sender = worker(
        lambda: None, FakeMailer(), FakeWebhookSender(), max_in_flight=2, mail_sessions=1
    )  # type: ignore[arg-type,return-value]
    held = Held()

    mail = [sender.lease(delivery(n, "email", f"p{n}@example.com"), held) for n in range(3)]
    hooks = [sender.lease(delivery(10 + n, "webhook", f"endpoint-{n}"), held) for n in range(3)]

    assert (mail, hooks) == ([True, True, False], [True, True, False])
    assert held.channels == {"email": 2, "webhook": 2}
    # The mail left to a claim keeps a newer one to its address from overtaking it.
    later = delivery(20, "email", "p2@example.com")
    assert not sender.lease(later, Held())

"""Signed webhooks on real PostgreSQL and real HTTP: signatures, retries, 410, disabling, replay.

The worker runs with a hand-moved clock, so hours of retry schedule pass in milliseconds.
"""

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from notify_rig import (
    TENANT,
    Answer,
    NotifyRig,
    ScriptedReceiver,
    migrated_engine,
    new_ticket_id,
    ticket_assigned,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from helpline_devstack.postgres import PostgresServer
from helpline_notify.adapters.fakes import FakeMailer
from helpline_notify.adapters.webhooks import signed_headers
from helpline_notify.domain.model import Delivery
from helpline_notify.service_layer import endpoints
from helpline_notify.service_layer.ports import WebhookRequest
from helpline_notify.service_layer.worker import WorkerOptions
from helpline_shared.events import NotificationDelivered, NotificationFailed

ASSIGNED = ("helpline.ticket.assigned.v1",)


pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(postgres: PostgresServer) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(postgres) as engine:
        yield engine


@pytest.fixture
async def rig(engine: AsyncEngine) -> AsyncIterator[NotifyRig]:
    rig = NotifyRig(
        engine, options=WorkerOptions(email_domain="acme.example", disable_after=timedelta(hours=1))
    )
    yield rig
    await rig.aclose()


@pytest.fixture
def receiver() -> Iterator[ScriptedReceiver]:
    with ScriptedReceiver() as receiver:
        yield receiver


async def webhook_of(rig: NotifyRig, ticket_id: str) -> Delivery:
    [delivery] = [d for d in await rig.deliveries(ticket_id) if d.channel == "webhook"]
    return delivery


async def test_standard_webhooks_receiver_accepts_deliveries_and_rejects_forgeries(
    rig: NotifyRig,
    receiver: ScriptedReceiver,
) -> None:
    endpoint_id = await rig.add_endpoint(receiver.url + "/in", ASSIGNED)
    secret = await rig.secret_of(endpoint_id)
    await rig.emit(ticket_assigned(new_ticket_id()))

    await rig.worker.deliver_due()

    [call] = receiver.received()
    payload = Webhook(secret).verify(call.body, call.headers)
    assert payload["type"] == "helpline.ticket.assigned.v1"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(call.body.replace(b"Ann", b"Eve"), call.headers)
    other_endpoint = await rig.add_endpoint(receiver.url + "/other", ASSIGNED)
    with pytest.raises(WebhookVerificationError):
        Webhook(await rig.secret_of(other_endpoint)).verify(call.body, call.headers)
    stale = signed_headers(
        WebhookRequest(
            url=receiver.url,
            message_id=call.headers["webhook-id"],
            body=call.body.decode(),
            secret=secret,
        ),
        datetime.now(UTC) - timedelta(minutes=6),
    )
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(call.body, stale)


async def test_during_rotation_deliveries_verify_with_the_old_and_the_new_secret(
    rig: NotifyRig,
    receiver: ScriptedReceiver,
) -> None:
    endpoint_id = await rig.add_endpoint(receiver.url + "/in", ASSIGNED)
    old = await rig.secret_of(endpoint_id)
    rotated = await endpoints.rotate_secret(
        TENANT, endpoint_id, timedelta(hours=1), rig.unit_of_work()
    )
    await rig.emit(ticket_assigned(new_ticket_id()))

    await rig.worker.deliver_due()
    rig.clock.advance(timedelta(hours=2))
    await rig.emit(ticket_assigned(new_ticket_id()))
    await rig.worker.deliver_due()

    during, after = receiver.received()
    for secret in (old, rotated.secret):
        Webhook(secret).verify(during.body, during.headers)
    Webhook(rotated.secret).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)


async def test_receiver_failing_three_times_gets_the_message_once_on_the_fourth_attempt(
    rig: NotifyRig,
    receiver: ScriptedReceiver,
) -> None:
    receiver.script = [Answer(500), Answer(502), Answer(500)]
    await rig.add_endpoint(receiver.url + "/in", ASSIGNED)
    ticket_id = new_ticket_id()
    await rig.emit(ticket_assigned(ticket_id))
    start = rig.clock.now

    waits = []
    for _ in range(4):
        await rig.worker.deliver_due()
        delivery = await webhook_of(rig, ticket_id)
        if delivery.next_attempt_at is None:
            break
        waits.append(delivery.next_attempt_at - rig.clock.now)
        assert await rig.worker.deliver_due() == 0, "nothing is sent before the retry is due"
        rig.clock.now = delivery.next_attempt_at

    assert waits == [timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30)]
    assert rig.clock.now - start == timedelta(minutes=35, seconds=5)
    calls = receiver.received()
    assert len(calls) == 4 and len({call.headers["webhook-id"] for call in calls}) == 1
    accepted = [call.headers["webhook-id"] for call in calls if call.answered < 300]
    assert len(accepted) == 1, "the receiver's webhook-id dedup sees the message once"
    delivery = await webhook_of(rig, ticket_id)
    assert (delivery.status, delivery.attempts) == ("delivered", 4)
    async with rig.unit_of_work() as uow:
        attempts = await uow.deliveries.attempts(TENANT, delivery.id)
    assert [(a.attempt, a.status_code, a.outcome) for a in attempts] == [
        (1, 500, "failed"),
        (2, 502, "failed"),
        (3, 500, "failed"),
        (4, 204, "delivered"),
    ]
    assert all(a.latency_ms >= 0 for a in attempts) and attempts[0].detail == "HTTP 500: ok"
    outcomes = [
        e.event
        for e in await rig.published()
        if e.event.ticket_id == ticket_id and e.event.channel == "webhook"
    ]
    assert [type(e).__name__ for e in outcomes] == ["NotificationFailed"] * 3 + [
        "NotificationDelivered"
    ]
    assert all(isinstance(e, NotificationFailed) and e.will_retry for e in outcomes[:3])
    assert isinstance(outcomes[3], NotificationDelivered)


async def test_retry_after_of_a_throttling_receiver_is_honoured(
    rig: NotifyRig,
    receiver: ScriptedReceiver,
) -> None:
    receiver.script = [Answer(429, {"retry-after": "3600"})]
    await rig.add_endpoint(receiver.url + "/in", ASSIGNED)
    ticket_id = new_ticket_id()
    await rig.emit(ticket_assigned(ticket_id))

    await rig.worker.deliver_due()

    delivery = await webhook_of(rig, ticket_id)
    assert delivery.next_attempt_at == rig.clock.now + timedelta(hours=1)


async def test_410_gone_disables_the_endpoint_and_later_events_are_suppressed(
    rig: NotifyRig,
    receiver: ScriptedReceiver,
) -> None:
    receiver.default = Answer(410)
    endpoint_id = await rig.add_endpoint(
        receiver.url + "/in", ASSIGNED, owner_email="ops@partner.example"
    )
    first, second = new_ticket_id(), new_ticket_id()
    await rig.emit(ticket_assigned(first))

    await rig.worker.deliver_due()
    await rig.emit(ticket_assigned(second))

    assert (await webhook_of(rig, first)).status == "failed"
    endpoint = await endpoints.get_webhook_endpoint(TENANT, endpoint_id, rig.unit_of_work())
    assert not endpoint.enabled and endpoint.disabled_reason == "answered 410 Gone"
    assert (await webhook_of(rig, second)).status == "suppressed"
    suppressed = [
        e.event for e in await rig.published() if e.type == "helpline.notification.suppressed.v1"
    ]
    assert [(e.ticket_id, e.reason) for e in suppressed] == [(second, "disabled_endpoint")]
    await rig.worker.deliver_due()
    assert len(receiver.received()) == 1
    mailer = rig.mailer
    assert isinstance(mailer, FakeMailer)
    assert [m.to for m in mailer.sent if "disabled" in m.subject] == ["ops@partner.example"]


async def test_endpoint_failing_for_the_configured_period_is_disabled_and_its_owner_told(
    rig: NotifyRig,
    receiver: ScriptedReceiver,
) -> None:
    receiver.default = Answer(500)
    endpoint_id = await rig.add_endpoint(
        receiver.url + "/in", ASSIGNED, owner_email="ops@partner.example"
    )
    ticket_id = new_ticket_id()
    await rig.emit(ticket_assigned(ticket_id))
    start = rig.clock.now

    while (delivery := await webhook_of(rig, ticket_id)).next_attempt_at is not None:
        rig.clock.now = max(rig.clock.now, delivery.next_attempt_at)
        await rig.worker.deliver_due()
        endpoint = await endpoints.get_webhook_endpoint(TENANT, endpoint_id, rig.unit_of_work())
        if not endpoint.enabled:
            break

    assert not endpoint.enabled
    assert endpoint.disabled_reason and "every attempt failed since" in endpoint.disabled_reason
    assert rig.clock.now - start >= timedelta(hours=1)
    await rig.worker.deliver_due()
    mailer = rig.mailer
    assert isinstance(mailer, FakeMailer)
    [notice] = [m for m in mailer.sent if m.to == "ops@partner.example"]
    assert "Webhook endpoint disabled" in notice.subject and endpoint_id in notice.text


async def test_failed_and_suppressed_messages_are_replayed_once_the_endpoint_is_back(
    rig: NotifyRig,
    receiver: ScriptedReceiver,
) -> None:
    receiver.script = [Answer(410)]
    endpoint_id = await rig.add_endpoint(receiver.url + "/in", ASSIGNED)
    tickets = [new_ticket_id() for _ in range(3)]
    since = datetime.now(UTC) - timedelta(seconds=1)
    await rig.emit(ticket_assigned(tickets[0]))
    await rig.worker.deliver_due()
    for ticket_id in tickets[1:]:
        await rig.emit(ticket_assigned(ticket_id))
    assert [(await webhook_of(rig, t)).status for t in tickets] == [
        "failed",
        "suppressed",
        "suppressed",
    ]

    await endpoints.change_webhook_endpoint(
        endpoints.ChangeWebhookEndpoint(
            tenant_id=TENANT,
            endpoint_id=endpoint_id,
            allow_private_networks=True,
            enabled=True,
        ),
        rig.unit_of_work(),
    )
    queued = await endpoints.replay_failed(TENANT, endpoint_id, since, rig.unit_of_work())
    rig.clock.advance(timedelta(seconds=1))
    await rig.worker.deliver_due()

    assert queued == 3
    assert [(await webhook_of(rig, t)).status for t in tickets] == ["delivered"] * 3
    ids = [call.headers["webhook-id"] for call in receiver.received()]
    assert len(ids) == 4 and len(set(ids)) == 3 and ids[0] in ids[1:], "replays keep the id"
    assert {json.loads(call.body)["data"]["ticket_id"] for call in receiver.received()} == set(
        tickets
    )

    first = await webhook_of(rig, tickets[0])
    await endpoints.resend_delivery(TENANT, first.id, rig.unit_of_work())
    rig.clock.advance(timedelta(seconds=1))
    await rig.worker.deliver_due()
    assert receiver.received()[-1].headers["webhook-id"] == first.id
    assert (await webhook_of(rig, tickets[0])).status == "delivered"


async def test_an_ordered_endpoint_gets_one_tickets_events_in_order_despite_a_retry(
    rig: NotifyRig,
    receiver: ScriptedReceiver,
) -> None:
    receiver.script = [Answer(500)]
    await rig.add_endpoint(receiver.url + "/ordered", ASSIGNED, ordered=True)
    ticket_id = new_ticket_id()
    first = await rig.emit(ticket_assigned(ticket_id))
    second = await rig.emit(ticket_assigned(ticket_id))

    await rig.worker.deliver_due()
    assert len(receiver.received()) == 1, "the second waits while the first is pending"
    rig.clock.advance(timedelta(seconds=5))
    await rig.worker.deliver_due()
    await rig.worker.deliver_due()

    ids = [call.headers["webhook-id"] for call in receiver.received()]
    first_id, second_id = (
        d.id
        for d in sorted(
            (d for d in await rig.deliveries(ticket_id) if d.channel == "webhook"),
            key=lambda d: d.trigger_event_id != first.id,
        )
    )
    assert ids == [first_id, first_id, second_id]
    assert second.id != first.id


async def test_an_unordered_endpoint_does_not_hold_back_later_events(
    rig: NotifyRig,
    receiver: ScriptedReceiver,
) -> None:
    receiver.script = [Answer(500)]
    await rig.add_endpoint(receiver.url + "/any-order", ASSIGNED)
    ticket_id = new_ticket_id()
    await rig.emit(ticket_assigned(ticket_id))
    await rig.emit(ticket_assigned(ticket_id))

    await rig.worker.deliver_due()

    assert len(receiver.received()) == 2

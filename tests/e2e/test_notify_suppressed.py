"""Nothing vanishes: every notification not sent publishes ``NotificationSuppressed`` and why.

One test per reason, on real PostgreSQL; the event is read from notify's outbox, the ledger
keeps the notification with status ``suppressed``.
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from notify_rig import (
    TENANT,
    NotifyRig,
    migrated_engine,
    new_ticket_id,
    ticket_assigned,
    ticket_created,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_devstack.postgres import PostgresServer
from helpline_notify.domain.subscriptions import Subscription, new_subscription_id
from helpline_notify.service_layer import endpoints, tenant_settings
from helpline_shared.events import (
    EmailBounced,
    MessageAdded,
    NotificationSuppressed,
    TicketStatusChanged,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(postgres: PostgresServer) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(postgres) as engine:
        yield engine


@pytest.fixture
async def rig(engine: AsyncEngine) -> AsyncIterator[NotifyRig]:
    rig = NotifyRig(engine)
    yield rig
    await rig.aclose()


def now() -> datetime:
    return datetime.now(UTC)


def agent_reply(ticket_id: str) -> MessageAdded:
    return MessageAdded(
        tenant_id=TENANT,
        ticket_id=ticket_id,
        occurred_at=now(),
        message_id=new_ticket_id(),
        author_role="agent",
        public=True,
        channel="api",
        body="Try turning it off and on again.",
    )


async def suppressed(rig: NotifyRig, ticket_id: str) -> list[NotificationSuppressed]:
    return [
        e.event
        for e in await rig.published()
        if isinstance(e.event, NotificationSuppressed) and e.event.ticket_id == ticket_id
    ]


async def test_a_bounced_address_is_suppressed(rig: NotifyRig) -> None:
    ticket_id = new_ticket_id()
    await rig.emit(
        EmailBounced(
            tenant_id=TENANT,
            ticket_id=ticket_id,
            occurred_at=now(),
            address="Gone@Customer.example",
            permanent=True,
            status="5.1.1",
            linked=False,
        )
    )
    await rig.emit(ticket_created(ticket_id, requester="gone@customer.example"))

    [event] = await suppressed(rig, ticket_id)
    assert (event.reason, event.channel) == ("suppressed_address", "email")
    assert event.detail and "5.1.1" in event.detail
    [delivery] = await rig.deliveries(ticket_id)
    assert (delivery.status, delivery.id) == ("suppressed", event.notification_id)


async def test_the_per_recipient_cap_stops_a_mail_loop(rig: NotifyRig) -> None:
    ticket_id = new_ticket_id()
    await rig.emit(ticket_created(ticket_id, requester="loop@customer.example"))
    for _ in range(rig.policy.recipient_cap):
        await rig.emit(agent_reply(ticket_id))

    [event] = await suppressed(rig, ticket_id)
    assert event.reason == "loop_cap"
    sent = [d for d in await rig.deliveries(ticket_id) if d.status == "pending"]
    assert len(sent) == rig.policy.recipient_cap


async def test_an_event_type_without_a_template_is_reported(rig: NotifyRig) -> None:
    await tenant_settings.add_subscription(
        Subscription(
            id=new_subscription_id(),
            tenant_id=TENANT,
            channel="email",
            roles=("requester",),
            event_types=("helpline.ticket.status_changed.v1",),
            created_at=now(),
        ),
        rig.unit_of_work(),
    )
    ticket_id = new_ticket_id()
    await rig.emit(ticket_created(ticket_id))
    await rig.emit(
        TicketStatusChanged(
            tenant_id=TENANT,
            ticket_id=ticket_id,
            occurred_at=now(),
            previous_status="new",
            status="open",
        )
    )

    [event] = await suppressed(rig, ticket_id)
    assert event.reason == "no_template"
    assert event.trigger_event_type == "helpline.ticket.status_changed.v1"


async def test_a_disabled_endpoint_is_reported(rig: NotifyRig) -> None:
    endpoint_id = await rig.add_endpoint(
        "https://hooks.example.com/in", ("helpline.ticket.assigned.v1",)
    )
    await endpoints.change_webhook_endpoint(
        endpoints.ChangeWebhookEndpoint(
            tenant_id=TENANT,
            endpoint_id=endpoint_id,
            allow_private_networks=False,
            enabled=False,
        ),
        rig.unit_of_work(),
    )
    ticket_id = new_ticket_id()
    await rig.emit(ticket_assigned(ticket_id))

    [event] = await suppressed(rig, ticket_id)
    assert (event.reason, event.channel) == ("disabled_endpoint", "webhook")


async def test_a_reply_on_a_ticket_without_a_known_requester_is_reported(rig: NotifyRig) -> None:
    ticket_id = new_ticket_id()
    await rig.emit(agent_reply(ticket_id))

    [event] = await suppressed(rig, ticket_id)
    assert event.reason == "no_recipient"
    assert event.detail == "no requester address is known for the ticket"

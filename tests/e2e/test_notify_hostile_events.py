"""Hostile text inside events never stops notify's handler on real PostgreSQL.

A mail's sender address or subject may carry NUL or other control characters (intake passes
what it parsed); PostgreSQL refuses NUL. The event is still handled: the ticket is learned with
the characters replaced, and the acknowledgement is suppressed with the reason, not retried.
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from notify_rig import TENANT, NotifyRig, migrated_engine, new_ticket_id, ticket_created

from helpline_devstack.postgres import PostgresServer
from helpline_notify.adapters.fakes import FakeMailer
from helpline_notify.domain.model import REPLACEMENT
from helpline_shared.events import MessageAdded, NotificationSuppressed

pytestmark = pytest.mark.integration


@pytest.fixture
async def rig(postgres: PostgresServer) -> AsyncIterator[NotifyRig]:
    async with migrated_engine(postgres) as engine:
        rig = NotifyRig(engine, mailer=FakeMailer())
        yield rig
        await rig.aclose()


async def _suppressed(rig: NotifyRig, ticket_id: str) -> list[NotificationSuppressed]:
    return [
        e.event
        for e in await rig.published()
        if isinstance(e.event, NotificationSuppressed) and e.event.ticket_id == ticket_id
    ]


@pytest.mark.parametrize("character", ["\x00", "\x01", "\u202e"])
async def test_a_requester_address_with_a_control_character_is_suppressed_with_the_reason(
    rig: NotifyRig,
    character: str,
) -> None:
    ticket_id = new_ticket_id()
    await rig.emit(ticket_created(ticket_id, requester=f"ca{character}rol@customer.example"))

    [delivery] = await rig.deliveries(ticket_id)
    assert delivery.status == "suppressed" and "\x00" not in delivery.destination
    [event] = await _suppressed(rig, ticket_id)
    assert event.reason == "no_recipient"
    assert event.detail is not None and "cannot be mailed" in event.detail
    await rig.worker.deliver_due()
    assert isinstance(rig.mailer, FakeMailer) and rig.mailer.sent == []


async def test_control_characters_in_the_text_are_replaced_not_fatal(rig: NotifyRig) -> None:
    ticket_id = new_ticket_id()
    created = ticket_created(ticket_id).model_copy(update={"subject": "Printer\x00 on fire"})
    await rig.emit(created)
    await rig.emit(
        MessageAdded(
            tenant_id=TENANT,
            ticket_id=ticket_id,
            occurred_at=datetime.now(UTC),
            message_id=new_ticket_id(),
            author_role="agent",
            public=True,
            channel="api",
            body="Try\x00 this\x1b[31m",
            email_message_id="<a\x00b@x>",
        )
    )
    await rig.worker.deliver_due()

    assert isinstance(rig.mailer, FakeMailer)
    sent = rig.mailer.sent
    assert [mail.subject.endswith(f"Printer{REPLACEMENT} on fire") for mail in sent] == [True, True]
    assert f"Try{REPLACEMENT} this{REPLACEMENT}[31m" in sent[1].text
    assert all(d.status == "delivered" for d in await rig.deliveries(ticket_id))

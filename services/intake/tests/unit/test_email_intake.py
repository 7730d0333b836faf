"""Mail becomes tickets and messages exactly once, threads by token and headers, never loops."""

from collections.abc import AsyncIterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from helpline_intake.entrypoints.mail_loops import sweep_pending
from helpline_intake.service_layer import handlers
from helpline_intake.service_layer.email_intake import replay
from helpline_intake.service_layer.inbound import store_raw
from helpline_intake.testing import Intake, intake_on_sqlite, mail
from helpline_shared.envelope import from_record, to_record
from helpline_shared.events import EmailBounced, MessageAdded, NotificationDelivered
from helpline_shared.runtime.db import utcnow

CREATED = "helpline.ticket.created.v1"
DSN = """From: MAILER-DAEMON@mx.customer.example
To: support@acme.test
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce-1@mx.customer.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain

Delivery failed.

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.customer.example

Final-Recipient: rfc822; cy@customer.example
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 no such user

--b1
Content-Type: text/rfc822-headers

Message-ID: {original}
Subject: Printer on fire

--b1--
"""
ADDED = "helpline.ticket.message_added.v1"
BOUNCED = "helpline.email.bounced.v1"


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[Intake]:
    async with intake_on_sqlite(tmp_path) as made:
        yield made


def reply_to(
    original: EmailMessage,
    *,
    subject: str = "Re: something",
    sender: str = "cy@customer.example",
    references: bool = False,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    answer = mail(subject=subject, body="More details.", sender=sender, headers=headers)
    if references:
        answer["References"] = f"<unrelated@x.example> {original['Message-ID']}"
    else:
        answer["In-Reply-To"] = original["Message-ID"]
    return answer


async def test_a_new_mail_opens_a_ticket_on_its_mailbox(intake: Intake) -> None:
    assert await intake.deliver(mail()) == ["processed"]
    [ticket] = await intake.tickets()
    assert (ticket.channel, ticket.mailbox, ticket.subject) == (
        "email",
        "support@acme.test",
        "Printer on fire",
    )
    assert ticket.requester_email == "cy@customer.example" and ticket.tags == ["email"]
    [message] = await intake.messages(ticket.id)
    assert message.email_message_id and "It smokes." in message.body
    assert [event.type for event in await intake.events()] == [CREATED]


async def test_a_reply_threads_by_in_reply_to_and_a_cc_reply_by_references(intake: Intake) -> None:
    original = mail()
    await intake.deliver(original)
    await intake.deliver(reply_to(original))
    await intake.deliver(reply_to(original, sender="colleague@customer.example", references=True))
    [ticket] = await intake.tickets()
    assert len(await intake.messages(ticket.id)) == 3


async def test_the_same_subject_alone_never_threads(intake: Intake) -> None:
    await intake.deliver(mail(subject="Invoice"))
    await intake.deliver(mail(subject="Re: Invoice", sender="other@else.example"))
    assert len(await intake.tickets()) == 2


async def test_the_ticket_token_in_subject_or_plus_address_threads(intake: Intake) -> None:
    await intake.deliver(mail())
    [ticket] = await intake.tickets()
    token = ticket.id[:8]
    await intake.deliver(mail(subject=f"Re: [#{token}] Printer on fire"))
    await intake.deliver(
        mail(subject="no token here", to=f"support+{token}@acme.test"), f"support+{token}@acme.test"
    )
    assert len(await intake.tickets()) == 1
    assert len(await intake.messages(ticket.id)) == 3


async def test_a_reply_to_our_notification_threads_by_the_outbound_message_id(
    intake: Intake,
) -> None:
    await intake.deliver(mail())
    [ticket] = await intake.tickets()
    delivered = NotificationDelivered(
        tenant_id="acme",
        ticket_id=ticket.id,
        occurred_at=utcnow(),
        notification_id="n1",
        channel="email",
        trigger_event_id="e1",
        trigger_event_type=CREATED,
        attempt=1,
        outbound_message_id="<ack-1@helpline.test>",
    )
    record = to_record(delivered, source="/tests")
    await handlers.on_event(from_record(record.headers, record.value), intake.unit_of_work())
    answer = mail(subject="Re: your request", headers={"In-Reply-To": "<ack-1@helpline.test>"})
    await intake.deliver(answer)
    assert len(await intake.tickets()) == 1
    assert len(await intake.messages(ticket.id)) == 2


async def test_a_retried_delivery_or_two_mailboxes_make_one_ticket(intake: Intake) -> None:
    await intake.add_mailbox("acme", "sales@acme.test")
    original = mail()
    await intake.deliver(original, "support@acme.test", "sales@acme.test")
    assert await intake.deliver(original) == []
    assert await intake.deliver(original, "sales@acme.test") == []
    no_id = mail(message_id="")
    del no_id["Message-ID"]
    await intake.deliver(no_id.as_bytes().replace(b"\n", b"\nReceived: hop 1\n", 1))
    await intake.deliver(no_id.as_bytes().replace(b"\n", b"\nReceived: hop 2\n", 1))
    assert len(await intake.tickets()) == 2


async def test_a_reused_message_id_with_other_content_is_stored_and_processed(
    intake: Intake,
) -> None:
    first = mail(message_id="<same@customer.example>")
    clash = mail(
        message_id="<same@customer.example>",
        sender="mallory@evil.example",
        subject="Other matter",
        body="Entirely different.",
    )
    assert await intake.deliver(first) == ["processed"]
    assert await intake.deliver(clash) == ["processed"]
    assert await intake.deliver(clash) == [], "a retry of the second mail is still a repeat"
    tickets = await intake.tickets()
    assert sorted(ticket.requester_email for ticket in tickets) == [
        "cy@customer.example",
        "mallory@evil.example",
    ]


async def test_a_sender_address_with_a_control_character_is_quarantined_not_a_ticket(
    intake: Intake,
) -> None:
    for sender in (b"cy\x00@customer.example", b"cy\xe2\x80\xae@customer.example"):
        raw = (
            b"From: Cy <" + sender + b">\r\nTo: support@acme.test\r\nSubject: Help\r\n"
            b"Message-ID: <" + sender.replace(b"@", b".") + b"@x>\r\n\r\nPlease.\r\n"
        )
        assert await intake.deliver(raw) == ["quarantined"]
    assert await intake.tickets() == []
    async with intake.unit_of_work() as uow:
        quarantined = await uow.mail.inbound_list(status="quarantined", tenant_id="acme")
    assert [
        record.reason and "control or bidirectional" in record.reason for record in quarantined
    ] == [True, True]


async def test_control_and_bidi_characters_are_dropped_from_a_senders_name(intake: Intake) -> None:
    raw = (
        b"From: =?utf-8?q?Cy=E2=80=AE_Cus=00tomer?= <cy@customer.example>\r\n"
        b"To: support@acme.test\r\nSubject: Help\r\n\r\nPlease.\r\n"
    )
    assert await intake.deliver(raw) == ["processed"]
    [ticket] = await intake.tickets()
    assert ticket.requester_name == "Cy Customer"


async def test_an_out_of_office_reply_is_recorded_but_never_reopens(intake: Intake) -> None:
    original = mail()
    await intake.deliver(original)
    [ticket] = await intake.tickets()
    await handlers.update_ticket(
        handlers.UpdateTicket("acme", ticket.id, status="pending"), intake.unit_of_work()
    )
    await intake.deliver(
        reply_to(original, subject="Out of office", headers={"Auto-Submitted": "auto-replied"})
    )
    [ticket] = await intake.tickets()
    assert ticket.status == "pending"
    added = [event.event for event in await intake.events() if event.type == ADDED]
    assert [isinstance(event, MessageAdded) and event.auto_reply for event in added] == [True]


async def test_an_unthreaded_auto_reply_is_quarantined_not_a_ticket(intake: Intake) -> None:
    assert await intake.deliver(mail(headers={"Precedence": "bulk"})) == ["quarantined"]
    assert await intake.tickets() == []


@pytest.mark.parametrize(
    "sender", ["noreply@shop.example", "no-reply@monitor.example", "donotreply@forms.example"]
)
async def test_a_no_reply_web_form_with_reply_to_opens_a_ticket_for_that_person(
    intake: Intake, sender: str
) -> None:
    form = mail(sender=sender, headers={"Reply-To": "Dee Buyer <Dee@Buyer.example>"})
    assert await intake.deliver(form) == ["processed"]
    [ticket] = await intake.tickets()
    assert (ticket.requester_email, ticket.requester_name) == ("dee@buyer.example", "Dee Buyer")


@pytest.mark.parametrize("reply_to", [None, "noreply@shop.example", "not an address"])
async def test_a_no_reply_mail_without_a_usable_reply_to_stays_quarantined(
    intake: Intake, reply_to: str | None
) -> None:
    headers = {"Reply-To": reply_to} if reply_to else {}
    assert await intake.deliver(mail(sender="noreply@shop.example", headers=headers)) == [
        "quarantined"
    ]
    assert await intake.tickets() == []


async def test_a_bounce_is_linked_to_its_ticket_and_published(intake: Intake) -> None:
    original = mail()
    await intake.deliver(original)
    [ticket] = await intake.tickets()
    bounce = DSN.replace("{original}", str(original["Message-ID"])).encode()
    assert await intake.deliver(bounce) == ["processed"]
    [event] = [event for event in await intake.events() if event.type == BOUNCED]
    assert event.subject == ticket.id
    bounced = event.event
    assert isinstance(bounced, EmailBounced)
    assert (bounced.address, bounced.permanent, bounced.linked) == (
        "cy@customer.example",
        True,
        True,
    )
    [ticket] = await intake.tickets()
    assert ticket.status == "new"


async def test_unparseable_mail_is_quarantined_with_a_reason_and_replays(intake: Intake) -> None:
    assert await intake.deliver(b"\x00\x01 not a mail at all") == ["quarantined"]
    async with intake.unit_of_work() as uow:
        [record] = await uow.mail.inbound_list(status="quarantined", tenant_id="acme")
    assert record.reason
    assert await replay("acme", record.id, intake.processing) == "quarantined"
    assert await replay("other", record.id, intake.processing) is None


async def test_a_mail_to_a_merged_ticket_lands_on_the_ticket_it_was_merged_into(
    intake: Intake,
) -> None:
    first, second = mail(subject="A"), mail(subject="B")
    await intake.deliver(first)
    await intake.deliver(second)
    target, source = await intake.tickets()
    await handlers.merge_tickets(
        handlers.MergeTickets("acme", source.id, target.id), intake.unit_of_work()
    )
    await intake.deliver(reply_to(second))
    assert len(await intake.messages(target.id)) == 3


async def test_mail_stored_but_not_processed_before_a_crash_is_swept_up(intake: Intake) -> None:
    mailbox = intake.mailboxes["support@acme.test"]
    await store_raw(mail().as_bytes(), [mailbox], [mailbox.address], "smtp", intake.unit_of_work)
    assert await intake.tickets() == []
    assert await sweep_pending(intake.processing, grace=timedelta(0)) == 1
    assert len(await intake.tickets()) == 1
    assert await sweep_pending(intake.processing, grace=timedelta(0)) == 0

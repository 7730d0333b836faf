"""A person's reply is mailed with its attachments, read from intake with notify's own service
key at each attempt (notify keeps no copy)."""

from datetime import timedelta
from email.message import EmailMessage

import httpx
import pytest
from notify_people_kit import CUSTOMER, created, handle, person_joined
from notify_testkit import NOW, TENANT, UnitOfWorkFactory, ledger, new_ticket_id
from opentelemetry.sdk.trace import TracerProvider

from helpline_notify.adapters.fakes import FakeMailer, FakeWebhookSender
from helpline_notify.adapters.intake_attachments import HttpAttachmentSource
from helpline_notify.adapters.rendering import JinjaRenderer
from helpline_notify.adapters.smtp import build_message
from helpline_notify.domain.errors import DeliveryAttemptFailed
from helpline_notify.service_layer.ports import AttachmentSource
from helpline_notify.service_layer.worker import DeliveryWorker, WorkerOptions
from helpline_shared.events import Actor, MessageAdded, MessageAttachment
from helpline_shared.runtime.db import utcnow

LOG = MessageAttachment(id="att-1", filename="export.log", content_type="text/plain", size=9)
SHOT = MessageAttachment(id="att-2", filename="screen shot.png", content_type="image/png", size=4)
FILES = {"att-1": b"row 1000\n", "att-2": b"\x89PNG"}


class FakeIntake:
    """Serves FILES as intake would, and notes what was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str, str]] = []

    async def fetch(
        self, tenant_id: str, ticket_id: str, message_id: str, attachment_id: str
    ) -> bytes:
        self.asked.append((tenant_id, ticket_id, message_id, attachment_id))
        return FILES[attachment_id]


def worker(
    unit_of_work: UnitOfWorkFactory, mailer: FakeMailer, files: AttachmentSource | None
) -> DeliveryWorker:
    return DeliveryWorker(
        unit_of_work,
        mailer,
        FakeWebhookSender(),
        TracerProvider().get_tracer("test"),
        WorkerOptions(email_domain="acme.example"),
        renderer=JinjaRenderer(),
        clock=lambda: utcnow() + timedelta(seconds=1),
        jitter=lambda: 0.0,
        attachments=files,
    )


def reply_with_files(ticket_id: str, user_id: str | None) -> MessageAdded:
    actor = Actor(type="user", id=user_id) if user_id else None
    return MessageAdded(
        tenant_id=TENANT,
        ticket_id=ticket_id,
        occurred_at=NOW,
        message_id="m-1",
        author_role="agent",
        author_id=user_id,
        public=True,
        channel="api",
        body="The log you asked for.",
        actor=actor,
        attachments=(LOG, SHOT),
    )


async def test_a_persons_reply_is_mailed_with_its_attachments(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    ann = await person_joined(unit_of_work, "Ann Agent", "ann@example.com")
    ticket_id = new_ticket_id()
    await handle(unit_of_work, created(ticket_id), reply_with_files(ticket_id, ann))
    mailer, intake = FakeMailer(), FakeIntake()

    await worker(unit_of_work, mailer, intake).deliver_due()

    reply = next(
        email
        for email in mailer.sent
        if email.to == CUSTOMER and "The log you asked for." in email.text
    )
    assert [(f.filename, f.content_type, f.data) for f in reply.attachments] == [
        ("export.log", "text/plain", b"row 1000\n"),
        ("screen shot.png", "image/png", b"\x89PNG"),
    ]
    assert intake.asked == [
        (TENANT, ticket_id, "m-1", "att-1"),
        (TENANT, ticket_id, "m-1", "att-2"),
    ]
    message = build_message(reply, "n@helpline.test")
    parts = [
        (p.get_filename(), p.get_content_type(), p.get_content())
        for p in message.iter_attachments()
        if isinstance(p, EmailMessage)
    ]
    assert parts == [
        ("export.log", "text/plain", "row 1000\n"),
        ("screen shot.png", "image/png", b"\x89PNG"),
    ]
    assert message.get_body(("plain",)) is not None and message.get_body(("html",)) is not None


async def test_automatic_mail_carries_no_attachments_and_without_a_key_a_reply_fails_clearly(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    ann = await person_joined(unit_of_work, "Ann Agent", "ann@example.com")
    ticket_id = new_ticket_id()
    await handle(
        unit_of_work,
        created(ticket_id),
        reply_with_files(ticket_id, ann),
        reply_with_files(ticket_id, None).model_copy(update={"message_id": "m-2"}),
    )
    mailer = FakeMailer()

    await worker(unit_of_work, mailer, None).deliver_due()

    to_customer = [d for d in await ledger(unit_of_work, ticket_id) if d.destination == CUSTOMER]
    ack, human, automatic = to_customer
    assert (ack.status, automatic.status, automatic.attachments) == ("delivered", "delivered", None)
    assert human.status == "failed" and "HELPLINE_INTAKE_SERVICE_KEY" in (human.last_error or "")


def intake_answering(status: int, seen: list[httpx.Request]) -> httpx.AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, content=b"row 1000\n" if status == 200 else b"{}")

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


async def test_intake_is_asked_as_notify_for_the_tenant_and_refusals_are_permanent() -> None:
    seen: list[httpx.Request] = []
    source = HttpAttachmentSource(
        "http://intake.test/", "hlk_notify", intake_answering(200, seen), max_bytes=100
    )
    assert await source.fetch(TENANT, "t/1", "m-1", "att-1") == b"row 1000\n"
    assert str(seen[0].url) == "http://intake.test/v1/tickets/t%2F1/messages/m-1/attachments/att-1"
    assert seen[0].headers["authorization"] == "Bearer hlk_notify"
    assert seen[0].headers["helpline-tenant"] == TENANT
    for status, permanent in ((404, True), (403, True), (503, False)):
        failing = HttpAttachmentSource(
            "http://intake.test", "k", intake_answering(status, []), max_bytes=100
        )
        with pytest.raises(DeliveryAttemptFailed) as failed:
            await failing.fetch(TENANT, "t-1", "m-1", "att-1")
        assert failed.value.permanent is permanent, status
    small = HttpAttachmentSource("http://intake.test", "k", intake_answering(200, []), max_bytes=4)
    with pytest.raises(DeliveryAttemptFailed, match="larger than 4 bytes"):
        await small.fetch(TENANT, "t-1", "m-1", "att-1")

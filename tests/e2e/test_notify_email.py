"""Email out on real PostgreSQL and a real SMTP sink: threading, tokens, auto-submission, templates.

The requester's acknowledgement and the agent's reply made over the API reach the requester as one
thread (``In-Reply-To``/``References``), each with a unique Message-ID under the tenant's domain,
published in ``NotificationDelivered.outbound_message_id`` for intake to thread replies.
"""

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from notify_rig import TENANT, NotifyRig, migrated_engine, new_ticket_id, ticket_created
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_devstack._proc import free_port
from helpline_devstack.mailsink import MailSink
from helpline_devstack.postgres import PostgresServer
from helpline_notify.adapters.smtp import SmtpMailer
from helpline_notify.domain.templates import TemplateSource
from helpline_notify.service_layer import tenant_settings
from helpline_shared.events import MessageAdded, NotificationDelivered

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(postgres: PostgresServer) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(postgres) as engine:
        yield engine


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    sink = MailSink(tmp_path / "mail", port=free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
async def rig(engine: AsyncEngine, sink: MailSink) -> AsyncIterator[NotifyRig]:
    rig = NotifyRig(
        engine, mailer=SmtpMailer(sink.host, sink.port, "Acme Support <support@acme.example>")
    )
    yield rig
    await rig.aclose()


def agent_reply(ticket_id: str, body: str) -> MessageAdded:
    """An agent's public reply made over the API."""
    return MessageAdded(
        tenant_id=TENANT,
        ticket_id=ticket_id,
        occurred_at=datetime.now(UTC),
        message_id=new_ticket_id(),
        author_role="agent",
        author_id="agent-ann",
        public=True,
        channel="api",
        body=body,
    )


def mails_to(sink: MailSink, address: str) -> list[EmailMessage]:
    """The messages the sink got for ``address``, oldest first."""
    found = []
    for path in sink.messages():
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        if address in str(message["To"]):
            found.append(message)
    return found


async def test_acknowledgement_and_agent_reply_reach_the_requester_as_one_thread(
    rig: NotifyRig,
    sink: MailSink,
) -> None:
    ticket_id = new_ticket_id()
    await rig.emit(ticket_created(ticket_id, requester="dana@customer.example"))
    await rig.worker.deliver_due()
    await rig.emit(agent_reply(ticket_id, "Unplug it <now> & call us."))
    await rig.worker.deliver_due()

    ack, reply = mails_to(sink, "dana@customer.example")
    token = f"[#{ticket_id[:8]}]"
    assert token in str(ack["Subject"]) and token in str(reply["Subject"])
    assert ack["Auto-Submitted"] == "auto-replied"
    assert reply["Auto-Submitted"] == "auto-generated"
    assert ack["Message-ID"] != reply["Message-ID"]
    assert str(ack["Message-ID"]).endswith("@acme.example>")
    assert reply["In-Reply-To"] == ack["Message-ID"]
    assert str(ack["Message-ID"]) in str(reply["References"])
    assert reply["Reply-To"] == "support@acme.example"
    text = reply.get_body(("plain",))
    html = reply.get_body(("html",))
    assert text is not None and "Unplug it <now> & call us." in text.get_content()
    assert html is not None and "Unplug it &lt;now&gt; &amp; call us." in html.get_content()
    delivered = [
        e.event
        for e in await rig.published()
        if isinstance(e.event, NotificationDelivered) and e.event.ticket_id == ticket_id
    ]
    assert sorted(e.outbound_message_id or "" for e in delivered) == sorted(
        [str(ack["Message-ID"]), str(reply["Message-ID"])]
    )


async def test_a_tenant_template_in_the_ticket_language_is_rendered_sandboxed(
    rig: NotifyRig,
    sink: MailSink,
) -> None:
    await tenant_settings.put_template(
        TENANT,
        "helpline.ticket.created.v1",
        "en",
        TemplateSource(
            subject="Got it: {{ ticket.subject }}",
            text="Hi {{ ticket.requester_name or 'you' }} {{ ''.__class__ }}",
            html="<p>{{ ticket.subject }}</p>",
        ),
        rig.renderer,
        rig.unit_of_work(),
    )
    ticket_id = new_ticket_id()
    await rig.emit(ticket_created(ticket_id, requester="erin@customer.example"))
    await rig.worker.deliver_due()

    [ack] = mails_to(sink, "erin@customer.example")
    assert str(ack["Subject"]) == f"[#{ticket_id[:8]}] Got it: Printer on fire"
    body = ack.get_body(("plain",))
    assert body is not None and "<class" not in body.get_content()

"""Agents answer by mail through intake's own SMTP server: a signed reply address from their own
address acts as them; their address alone never does (issue 12, point 6)."""

import asyncio
import smtplib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from helpline_devstack._proc import free_port
from helpline_intake.domain.model import Message, Ticket
from helpline_intake.entrypoints.smtp import IntakeHandler, smtp_loop
from helpline_intake.service_layer import handlers
from helpline_intake.testing import Intake, intake_on_sqlite, mail
from helpline_shared.events import (
    AuditRecorded,
    MessageAdded,
    TicketStatusChanged,
    UserCreated,
    UserDeactivated,
)
from helpline_shared.reply_tokens import reply_address, reply_token
from helpline_shared.ticket_token import ticket_token

SECRET = "reply-token-secret-for-tests"
ADA = uuid.uuid4().hex
ADA_ADDRESS = "ada@acme.example"
CUSTOMER = "cy@customer.example"
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
QUOTED = (
    f"On Mon, 30 Nov 2026 at 09:00, Cy Customer <{CUSTOMER}> wrote:\n"
    "> The printer is on fire.\n> It smokes.\n"
)
SIGNATURE = "-- \nAda Agent\nAcme support, +1 555 0100\n"


class Smtp:
    """Intake's SMTP server, listening in this test's event loop."""

    def __init__(self, intake: Intake) -> None:
        self.port = free_port()
        self.handler = IntakeHandler(intake.processing)
        self.loop = smtp_loop(
            intake.processing,
            host="127.0.0.1",
            port=self.port,
            max_size=1_000_000,
            handler=self.handler,
        )

    async def send(
        self, message: EmailMessage, recipient: str, sender: str
    ) -> dict[str, tuple[int, bytes]]:
        """Deliver over SMTP and wait for the processing it started; the refused recipients."""

        def deliver() -> dict[str, tuple[int, bytes]]:
            with smtplib.SMTP("127.0.0.1", self.port) as client:
                return client.send_message(message, from_addr=sender, to_addrs=[recipient])

        refused = await asyncio.to_thread(deliver)
        await self.handler.drain()
        return refused


@asynccontextmanager
async def smtp_intake(tmp_path: Path) -> AsyncIterator[tuple[Intake, Smtp]]:
    """Intake on SQLite with its SMTP server listening, and Ada known as an agent."""
    async with intake_on_sqlite(tmp_path, reply_token_secret=SECRET) as intake:
        await intake.learn(
            UserCreated(
                tenant_id="acme",
                occurred_at=NOW,
                user_id=ADA,
                name="Ada Agent",
                email=ADA_ADDRESS,
                role="agent",
            )
        )
        smtp = Smtp(intake)
        server = asyncio.create_task(smtp.loop.run())
        await _listening(smtp.port)
        try:
            yield intake, smtp
        finally:
            await smtp.loop.stop()
            await server


async def _listening(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        writer.close()
        return
    raise AssertionError("intake's SMTP server did not listen")


async def open_ticket(intake: Intake, subject: str = "Printer on fire") -> Ticket:
    await intake.deliver(mail(subject=subject, sender=CUSTOMER))
    return next(item for item in await intake.tickets() if item.subject == subject)


def agent_mail(
    ticket: Ticket, body: str, *, sender: str = ADA_ADDRESS, to: str = "support@acme.test"
) -> EmailMessage:
    return mail(
        subject=f"Re: {ticket.subject} {ticket_token(ticket.id)}", body=body, sender=sender, to=to
    )


def signed_address(ticket_id: str, user_id: str = ADA) -> str:
    return reply_address("support@acme.test", reply_token(SECRET, "acme", ticket_id, user_id))


async def last_message(intake: Intake, ticket: Ticket) -> Message:
    return (await intake.messages(ticket.id))[-1]


async def published(intake: Intake, kind: type) -> list[object]:
    return [
        envelope.event for envelope in await intake.events() if isinstance(envelope.event, kind)
    ]


async def test_an_agents_reply_to_the_signed_address_is_their_public_reply_without_quote(
    tmp_path: Path,
) -> None:
    async with smtp_intake(tmp_path) as (intake, smtp):
        ticket = await open_ticket(intake)
        address = signed_address(ticket.id)
        refused = await smtp.send(
            agent_mail(
                ticket,
                f"We replaced the toner; it is fine now.\n\n{QUOTED}\n{SIGNATURE}",
                to=address,
            ),
            address,
            ADA_ADDRESS,
        )
        message = await last_message(intake, ticket)
        added = await published(intake, MessageAdded)
        audits = await published(intake, AuditRecorded)
    assert refused == {}  # the subaddress support+<token>@ reaches the mailbox (no 550)
    assert (message.author_role, message.author_id, message.public) == ("agent", ADA, True)
    assert message.body == "We replaced the toner; it is fine now."
    assert message.channel == "email" and message.html is None
    event = added[-1]
    assert isinstance(event, MessageAdded)
    assert (event.author_role, event.author_id, event.public, event.auto_reply) == (
        "agent",
        ADA,
        True,
        False,
    )
    assert event.actor is not None and (event.actor.type, event.actor.id) == ("user", ADA)
    assert "wrote:" not in event.body and "Ada Agent" not in event.body
    assert [(item.actor, item.outcome) for item in audits if isinstance(item, AuditRecorded)] == [
        (f"user:{ADA}", "ok")
    ]


async def test_a_first_line_note_makes_the_agents_mail_an_internal_note(tmp_path: Path) -> None:
    async with smtp_intake(tmp_path) as (intake, smtp):
        ticket = await open_ticket(intake)
        address = signed_address(ticket.id)
        await smtp.send(
            agent_mail(
                ticket, f"#note\nCalled them: the part arrives Friday.\n\n{QUOTED}", to=address
            ),
            address,
            ADA_ADDRESS,
        )
        message = await last_message(intake, ticket)
    assert (message.author_role, message.author_id, message.public) == ("agent", ADA, False)
    assert message.body == "Called them: the part arrives Friday."


async def test_mail_from_an_agents_address_without_the_token_is_kept_internal_and_audited(
    tmp_path: Path,
) -> None:
    async with smtp_intake(tmp_path) as (intake, smtp):
        ticket = await open_ticket(intake)
        await handlers.update_ticket(
            handlers.UpdateTicket(tenant_id="acme", ticket_id=ticket.id, status="pending"),
            intake.unit_of_work(),
        )
        before = len(await published(intake, TicketStatusChanged))
        forged = "Close this, the customer agreed.\n"
        refused = await smtp.send(agent_mail(ticket, forged), "support@acme.test", ADA_ADDRESS)
        message = await last_message(intake, ticket)
        status = next(item for item in await intake.tickets() if item.id == ticket.id).status
        changes = await published(intake, TicketStatusChanged)
        added = await published(intake, MessageAdded)
        audits = await published(intake, AuditRecorded)
    assert refused == {}
    # Kept on the ticket for agents, but as nobody's reply: never sent, reopening nothing.
    assert (message.author_role, message.author_id, message.public) == ("requester", None, False)
    assert forged.strip() in message.body and "not sent to the customer" in message.body
    assert status == "pending" and len(changes) == before
    event = added[-1]
    assert isinstance(event, MessageAdded) and not event.public
    assert event.author_role != "agent" and event.actor is not None
    assert event.actor.type == "customer"
    audit = audits[-1]
    assert isinstance(audit, AuditRecorded)
    assert (audit.outcome, audit.actor, audit.target) == (
        "denied",
        f"mail:{ADA_ADDRESS}",
        f"ticket:{ticket.id}",
    )
    assert audit.detail["user_id"] == ADA


async def test_a_token_signed_for_another_ticket_does_not_act_as_the_agent(tmp_path: Path) -> None:
    async with smtp_intake(tmp_path) as (intake, smtp):
        ticket = await open_ticket(intake, "Printer on fire")
        other = await open_ticket(intake, "Invoice twice")
        address = signed_address(other.id)
        await smtp.send(agent_mail(ticket, "Refund issued.\n"), address, ADA_ADDRESS)
        message = await last_message(intake, ticket)
        audits = await published(intake, AuditRecorded)
    assert message.ticket_id == ticket.id
    assert (message.author_role, message.author_id, message.public) == ("requester", None, False)
    assert [item.outcome for item in audits if isinstance(item, AuditRecorded)] == ["denied"]


async def test_a_valid_token_from_another_address_or_a_deactivated_agent_acts_as_nobody(
    tmp_path: Path,
) -> None:
    async with smtp_intake(tmp_path) as (intake, smtp):
        ticket = await open_ticket(intake)
        address = signed_address(ticket.id)
        await smtp.send(
            agent_mail(ticket, "Lifted token.\n", sender="mallory@evil.example", to=address),
            address,
            "mallory@evil.example",
        )
        lifted = await last_message(intake, ticket)
        await intake.learn(UserDeactivated(tenant_id="acme", occurred_at=NOW, user_id=ADA))
        await smtp.send(agent_mail(ticket, "After I left.\n", to=address), address, ADA_ADDRESS)
        gone = await last_message(intake, ticket)
    for message in (lifted, gone):
        assert (message.author_role, message.public) == ("requester", False)


async def test_an_agents_signed_reply_that_answers_no_open_ticket_opens_none(
    tmp_path: Path,
) -> None:
    async with smtp_intake(tmp_path) as (intake, smtp):
        ticket = await open_ticket(intake)
        address = signed_address(ticket.id)
        unthreaded = mail(subject="Hello", body="No thread here.", sender=ADA_ADDRESS, to=address)
        await smtp.send(unthreaded, address, ADA_ADDRESS)
        tickets = await intake.tickets()
        async with intake.unit_of_work() as uow:
            quarantined = await uow.mail.inbound_list(status="quarantined", tenant_id="acme")
    assert [item.id for item in tickets] == [ticket.id]
    assert len(quarantined) == 1 and "reply address" in (quarantined[0].reason or "")


async def test_the_signed_address_still_works_after_the_ticket_is_merged(tmp_path: Path) -> None:
    async with smtp_intake(tmp_path) as (intake, smtp):
        ticket = await open_ticket(intake, "Printer on fire")
        target = await open_ticket(intake, "Printer broken")
        await handlers.merge_tickets(
            handlers.MergeTickets(tenant_id="acme", source_id=ticket.id, target_id=target.id),
            intake.unit_of_work(),
        )
        address = signed_address(ticket.id)
        await smtp.send(
            agent_mail(ticket, "Merged, answering here.\n", to=address), address, ADA_ADDRESS
        )
        message = await last_message(intake, target)
    assert (message.author_role, message.author_id, message.public) == ("agent", ADA, True)

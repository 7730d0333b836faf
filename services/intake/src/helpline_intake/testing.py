"""Intake's mail path on SQLite without servers, for tests: build mail and deliver it."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_intake.adapters.attachments import MemoryAttachmentStore
from helpline_intake.adapters.domain_ownership import TrustedOwnership
from helpline_intake.adapters.orm import metadata
from helpline_intake.bootstrap import MIGRATIONS
from helpline_intake.domain.directory import Mailbox
from helpline_intake.domain.domains import Domain, domain_of
from helpline_intake.domain.model import Message, Ticket
from helpline_intake.service_layer import domains, handlers, requesters
from helpline_intake.service_layer.email_intake import MailProcessing, process_inbound
from helpline_intake.service_layer.inbound import UnitOfWorkFactory, mailbox_for, store_raw
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared.envelope import Envelope, new_event_id
from helpline_shared.events import Event
from helpline_shared.runtime.testing import outbox_events, sqlite_units_of_work


def mail(
    *,
    subject: str = "Printer on fire",
    body: str = "It smokes.",
    sender: str = "cy@customer.example",
    to: str = "support@acme.test",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A simple text mail."""
    message = EmailMessage()
    message["From"] = f"Cy Customer <{sender}>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="customer.example")
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message


@dataclass
class Intake:
    """Intake's mail path on a SQLite database, without servers."""

    unit_of_work: UnitOfWorkFactory
    engine: AsyncEngine
    processing: MailProcessing
    mailboxes: dict[str, Mailbox] = field(default_factory=dict)

    async def verify_domain(self, tenant: str, name: str) -> Domain:
        """Add and verify a domain for ``tenant`` (the verification record counts as found)."""
        async with self.unit_of_work().read_only() as uow:
            found = await uow.domains.named(tenant, name)
        if found is None:
            found = await domains.add_domain(tenant, name, self.unit_of_work())
        return await domains.verify_domain(tenant, found.id, TrustedOwnership(), self.unit_of_work)

    async def add_mailbox(
        self, tenant: str, address: str, aliases: list[str] | None = None
    ) -> Mailbox:
        """Configure a mailbox, verifying its domains for the tenant first."""
        for name in {domain_of(item) for item in [address, *(aliases or [])]}:
            await self.verify_domain(tenant, name)
        mailbox = await requesters.add_mailbox(
            requesters.AddMailbox(
                tenant_id=tenant,
                address=address,
                aliases=aliases or [],
                priority="normal",
                type="question",
                tags=["email"],
                imap=None,
            ),
            self.unit_of_work(),
        )
        self.mailboxes[address] = mailbox
        return mailbox

    async def deliver(self, raw: bytes | EmailMessage, *recipients: str) -> list[str]:
        """Deliver like the SMTP server does; return the statuses of newly stored mail."""
        data = raw.as_bytes() if isinstance(raw, EmailMessage) else raw
        targets = list(recipients) or ["support@acme.test"]
        boxes = [
            box
            for box in [await mailbox_for(address, self.unit_of_work) for address in targets]
            if box
        ]
        stored = await store_raw(data, boxes, targets, "smtp", self.unit_of_work)
        return [
            await process_inbound(item.inbound_id, self.processing) for item in stored if item.new
        ]

    async def tickets(self, tenant: str = "acme") -> list[Ticket]:
        """The tenant's tickets."""
        async with self.unit_of_work().read_only() as uow:
            return await uow.tickets.page(tenant, limit=1000)

    async def messages(self, ticket_id: str, tenant: str = "acme") -> list[Message]:
        """A ticket's messages."""
        async with self.unit_of_work().read_only() as uow:
            return await uow.tickets.messages(tenant, ticket_id)

    async def events(self) -> list[Envelope]:
        """Everything published so far."""
        return await outbox_events(self.engine, metadata)

    async def learn(self, event: Event) -> None:
        """Consume one of identity's events (a user created, changed or deactivated)."""
        await handlers.on_event(
            Envelope(
                id=new_event_id(),
                source="/helpline/identity",
                type=event.event_type,
                time=event.occurred_at,
                subject=event.ticket_id,
                event=event,
            ),
            self.unit_of_work(),
        )


@asynccontextmanager
async def intake_on_sqlite(
    directory: Path, reply_token_secret: str | None = None
) -> AsyncIterator[Intake]:
    """An ``Intake`` with the mailbox support@acme.test (alias help@acme.test)."""
    async with sqlite_units_of_work(
        directory / "intake.db", MIGRATIONS, metadata, IntakeUnitOfWork
    ) as (unit_of_work, engine):
        intake = Intake(
            unit_of_work,
            engine,
            MailProcessing(unit_of_work, MemoryAttachmentStore(), 30.0, reply_token_secret),
        )
        await intake.add_mailbox("acme", "support@acme.test", ["help@acme.test"])
        yield intake

"""Turning a stored mail into a ticket or a message; anything that fails goes to quarantine."""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from helpline_intake.adapters.email_parser import parse_email
from helpline_intake.adapters.reply_text import new_text
from helpline_intake.domain.email.loops import is_auto_reply, requester_of
from helpline_intake.domain.email.message import InboundEmail
from helpline_intake.domain.email.notes import split_note
from helpline_intake.domain.email.threading import (
    answered_message_ids,
    reply_tokens_in,
    strip_token,
    tokens_in,
)
from helpline_intake.domain.errors import UnparseableEmail
from helpline_intake.domain.inbound import PENDING, PROCESSED, QUARANTINED, InboundRecord
from helpline_intake.domain.model import SYSTEM, Message, Ticket, new_id
from helpline_intake.domain.people import MailAuthor, Person, mail_author, verified_user
from helpline_intake.domain.ports import AttachmentStore
from helpline_intake.service_layer.inbound import UnitOfWorkFactory
from helpline_intake.service_layer.requesters import origin_for
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared.events import (
    Actor,
    AuditRecorded,
    EmailBounced,
    EmailQuarantined,
    Requester,
)
from helpline_shared.inputs import has_unsafe_characters
from helpline_shared.runtime.db import utcnow

log = logging.getLogger(__name__)

MAX_BODY = 100_000
MAX_MERGE_HOPS = 10


@dataclass(frozen=True)
class MailProcessing:
    """What processing needs besides a unit of work."""

    unit_of_work: UnitOfWorkFactory
    attachments: AttachmentStore
    parse_timeout: float = 30.0
    reply_token_secret: str | None = None
    """Verifies agents' reply addresses; None: no mail acts as an agent."""


class _Quarantine(Exception):
    """Internal: the mail is fine to keep but must not become a ticket (reason in args)."""


async def process_inbound(inbound_id: str, context: MailProcessing) -> str:
    """Process one stored mail; return its final status (quarantined with reason on failure)."""
    try:
        return await _apply(inbound_id, context)
    except Exception as error:  # noqa: BLE001 - any failure quarantines, the mailbox flows on
        reason = (
            str(error)
            if isinstance(error, _Quarantine | UnparseableEmail)
            else (f"{type(error).__name__}: {error}")
        )
        log.warning(
            "mail quarantined", extra={"inbound_id": inbound_id, "error_type": type(error).__name__}
        )
        await quarantine(inbound_id, reason[:2000], context.unit_of_work)
        return QUARANTINED


async def quarantine(inbound_id: str, reason: str, unit_of_work: UnitOfWorkFactory) -> None:
    """Mark a stored mail quarantined with ``reason`` and publish ``EmailQuarantined``."""
    async with unit_of_work() as uow:
        record = await uow.mail.inbound(inbound_id)
        if record is None or record.status != PENDING:
            return
        now = utcnow()
        await uow.mail.finish_inbound(
            inbound_id, status=QUARANTINED, reason=reason, ticket_id=None, now=now
        )
        uow.publish(
            EmailQuarantined(
                tenant_id=record.tenant_id,
                ticket_id=record.id,
                occurred_at=now,
                mailbox=record.mailbox,
                reason=reason,
                actor=SYSTEM,
            )
        )
        await uow.commit()


async def _parse(raw: bytes, timeout: float) -> InboundEmail:
    try:
        return await asyncio.wait_for(asyncio.to_thread(parse_email, raw), timeout)
    except TimeoutError as error:
        raise _Quarantine(f"parsing took longer than {timeout:g}s") from error


async def _apply(inbound_id: str, context: MailProcessing) -> str:
    async with context.unit_of_work().read_only() as uow:
        record = await uow.mail.inbound(inbound_id)
        if record is None or record.status != PENDING:
            return record.status if record else "missing"
        raw = await uow.mail.raw(inbound_id)
    mail = await _parse(raw, context.parse_timeout)
    stored = [
        await context.attachments.put(record.tenant_id, item.data) for item in mail.attachments
    ]
    files = [
        {
            "id": new_id(),
            "filename": item.filename,
            "content_type": item.content_type,
            "size": file.size,
            "sha256": file.sha256,
            "key": file.key,
            "inline": item.inline,
            "content_id": item.content_id,
        }
        for item, file in zip(mail.attachments, stored, strict=True)
    ]
    async with context.unit_of_work() as uow:
        if mail.bounce is not None:
            ticket_id = await _apply_bounce(uow, record, mail)
        else:
            ticket_id = await _apply_mail(uow, record, mail, files, context)
        if not await uow.mail.finish_inbound(
            inbound_id, status=PROCESSED, reason=None, ticket_id=ticket_id, now=utcnow()
        ):
            return "raced"
        await uow.commit()
    return PROCESSED


async def _find_ticket(
    uow: IntakeUnitOfWork, record: InboundRecord, mail: InboundEmail
) -> tuple[Ticket | None, list[str]]:
    """The ticket the mail threads to (merges followed), and every ticket id on the way."""
    ticket: Ticket | None = None
    for prefix in tokens_in(mail, record.recipients):
        ticket = await uow.tickets.by_prefix(record.tenant_id, prefix)
        if ticket is not None:
            break
    if ticket is None:
        ticket_id = await uow.mail.thread_ticket(record.tenant_id, answered_message_ids(mail))
        ticket = await uow.tickets.get(record.tenant_id, ticket_id) if ticket_id else None
    lineage: list[str] = []
    for _ in range(MAX_MERGE_HOPS):
        if ticket is None:
            break
        lineage.append(ticket.id)
        if ticket.merged_into_id is None:
            break
        ticket = await uow.tickets.get(record.tenant_id, ticket.merged_into_id)
    return ticket, lineage


async def _apply_mail(
    uow: IntakeUnitOfWork,
    record: InboundRecord,
    mail: InboundEmail,
    files: list[dict[str, Any]],
    context: MailProcessing,
) -> str:
    ticket, lineage = await _find_ticket(uow, record, mail)
    auto_reply = is_auto_reply(mail)
    body = (mail.text or "(no text)")[:MAX_BODY]
    now = utcnow()
    tokens = reply_tokens_in(mail, record.recipients)
    sender = (
        await uow.people.by_email(record.tenant_id, mail.from_address)
        if mail.from_address
        else None
    )
    customer = Actor(type="customer", id=(mail.from_address or "")[:320] or None)
    if ticket is not None and ticket.status != "closed":
        author = mail_author(
            sender=sender,
            sender_address=mail.from_address,
            token_user=verified_user(context.reply_token_secret, tokens, record.tenant_id, lineage),
            requester_email=ticket.requester_email,
        )
        if author.kind == "agent":
            assert author.person is not None
            message = await _agent_message(
                ticket, author.person, mail, files, body, auto_reply, now, context.parse_timeout
            )
            uow.publish(
                _mail_audit(
                    record,
                    ticket,
                    f"user:{author.person.user_id}",
                    "ticket.message.email",
                    "ok",
                    public=str(message.public).lower(),
                )
            )
        elif author.kind == "unverified":
            message = _unverified_message(
                ticket, author, mail, files, body, auto_reply, now, customer
            )
            uow.publish(
                _mail_audit(
                    record,
                    ticket,
                    f"mail:{customer.id or '-'}",
                    "ticket.message.email",
                    "denied",
                    reason=author.reason or "",
                    user_id=author.person.user_id if author.person else "",
                )
            )
        else:
            message = ticket.add_message(
                author_role="requester",
                author_id=None,
                public=True,
                channel="email",
                body=body,
                auto_reply=auto_reply,
                now=now,
                email_message_id=mail.message_id,
                html=mail.html,
                attachments=files,
                actor=customer,
            )
        await uow.tickets.add_message(message)
        await uow.tickets.save(ticket)
    elif tokens and sender is not None:
        # Opening a ticket for a person's reply would make them the customer of their own reply.
        raise _Quarantine(
            "mail from a Helpline user to a reply address that answers no open "
            "ticket: kept, nothing opened and nothing sent"
        )
    elif auto_reply:
        raise _Quarantine(
            "automatic reply (auto-reply, list or robot mail) that answers no "
            "open ticket: recorded, no ticket opened"
        )
    else:
        address, name = requester_of(mail)
        if not address:
            raise _Quarantine("no sender address (From) to open a ticket for")
        if has_unsafe_characters(address):
            # No acknowledgement could ever be delivered to it: keep the mail, open nothing.
            raise _Quarantine(
                "the sender address (From or Reply-To) contains a control or "
                "bidirectional character: no ticket is opened for an address no "
                "reply can reach"
            )
        mailbox = await uow.mail.resolve(record.mailbox)
        if mailbox is None:
            raise _Quarantine(f"mailbox {record.mailbox} no longer exists")
        try:
            requester = Requester(email=address, name=name)
        except ValidationError as error:
            raise _Quarantine(
                "the sender (From or Reply-To) is not a usable email address"
            ) from error
        origin = await origin_for(
            uow, record.tenant_id, requester, mailbox=mailbox.address, language=mail.language
        )
        ticket = Ticket.open(
            tenant_id=record.tenant_id,
            subject=strip_token(mail.subject) or "(no subject)",
            description=body,
            requester=requester,
            priority=mailbox.priority,
            type=mailbox.type,
            tags=mailbox.tags,
            channel="email",
            now=now,
            origin=origin,
            actor=Actor(type="customer", id=str(requester.email)),
        )
        await uow.tickets.add(ticket)
        # The first mail is kept as the ticket's first message (attachments, HTML, Message-ID);
        # TicketCreated already announces it, so no MessageAdded is published for it.
        await uow.tickets.add_message(
            Message(
                id=new_id(),
                ticket_id=ticket.id,
                tenant_id=ticket.tenant_id,
                author_role="requester",
                author_id=None,
                public=True,
                channel="email",
                body=body,
                auto_reply=False,
                created_at=now,
                email_message_id=mail.message_id,
                html=mail.html,
                attachments=files,
            )
        )
    for event in ticket.events:
        uow.publish(event)
    if mail.message_id:
        await uow.mail.remember_thread_id(record.tenant_id, mail.message_id, ticket.id, "in")
    return ticket.id


async def _agent_message(
    ticket: Ticket,
    person: Person,
    mail: InboundEmail,
    files: list[dict[str, Any]],
    body: str,
    auto_reply: bool,
    now: datetime,
    timeout: float,
) -> Message:
    """A proven agent's mail: their public reply, or a note (``#note``, an auto-reply, no text).

    Only what the agent newly wrote is kept (quote and signature cut), without the HTML (which
    carries the quote) and its inline images; a reply with nothing new is kept whole as a note.
    """
    try:
        written = await asyncio.wait_for(asyncio.to_thread(new_text, body), timeout)
    except TimeoutError:
        written = ""
    note, written = split_note(written)
    public = not note and not auto_reply and bool(written.strip())
    return ticket.add_message(
        author_role="agent",
        author_id=person.user_id,
        public=public,
        channel="email",
        body=written if written.strip() else body,
        auto_reply=auto_reply,
        now=now,
        email_message_id=mail.message_id,
        html=None,
        attachments=[item for item in files if not item["inline"]],
        actor=Actor(type="user", id=person.user_id),
    )


def _unverified_message(
    ticket: Ticket,
    author: MailAuthor,
    mail: InboundEmail,
    files: list[dict[str, Any]],
    body: str,
    auto_reply: bool,
    now: datetime,
    customer: Actor,
) -> Message:
    """Mail from a person's address without proof: kept for agents, sent to nobody."""
    notice = (
        f"[Kept internal, not sent to the customer: {author.reason}. It does not act as "
        f"{author.person.name if author.person else 'any agent'}.]"
    )
    return ticket.add_message(
        author_role="requester",
        author_id=None,
        public=False,
        channel="email",
        body=f"{notice}\n\n{body}"[:MAX_BODY],
        auto_reply=auto_reply,
        now=now,
        email_message_id=mail.message_id,
        html=mail.html,
        attachments=files,
        actor=customer,
    )


def _mail_audit(
    record: InboundRecord,
    ticket: Ticket,
    actor: str,
    action: str,
    outcome: Literal["ok", "denied"],
    **detail: str,
) -> AuditRecorded:
    return AuditRecorded(
        tenant_id=record.tenant_id,
        service="intake",
        actor=actor,
        action=action,
        target=f"ticket:{ticket.id}",
        outcome=outcome,
        request_id=record.id,
        detail={"inbound_id": record.id, **detail},
        occurred_at=utcnow(),
    )


async def _apply_bounce(
    uow: IntakeUnitOfWork, record: InboundRecord, mail: InboundEmail
) -> str | None:
    assert mail.bounce is not None
    bounce = mail.bounce
    candidates = [bounce.original_message_id] if bounce.original_message_id else []
    ticket_id = await uow.mail.thread_ticket(
        record.tenant_id, candidates + answered_message_ids(mail)
    )
    ticket = await uow.tickets.get(record.tenant_id, ticket_id) if ticket_id else None
    if ticket is None and not bounce.recipients:
        raise _Quarantine("delivery status report that names no recipient and no known mail")
    now = utcnow()
    if ticket is not None:
        addresses = ", ".join(item.address for item in bounce.recipients) or "unknown"
        note = ticket.add_message(
            author_role="system",
            author_id=None,
            public=False,
            channel="email",
            body=f"Mail to {addresses} could not be delivered.\n\n{mail.text[:MAX_BODY]}",
            auto_reply=True,
            now=now,
            email_message_id=mail.message_id,
            actor=SYSTEM,
        )
        await uow.tickets.add_message(note)
        await uow.tickets.save(ticket)
        for event in ticket.events:
            uow.publish(event)
    for recipient in bounce.recipients:
        uow.publish(
            EmailBounced(
                tenant_id=record.tenant_id,
                ticket_id=ticket.id if ticket else record.id,
                occurred_at=now,
                address=recipient.address,
                permanent=recipient.permanent,
                status=recipient.status,
                original_message_id=bounce.original_message_id,
                linked=ticket is not None,
                diagnostic=(recipient.diagnostic or None),
                actor=SYSTEM,
            )
        )
    return ticket.id if ticket else None


async def replay(tenant_id: str, inbound_id: str, context: MailProcessing) -> str | None:
    """Process a quarantined mail again (after a fix); None if the tenant has no such mail."""
    async with context.unit_of_work() as uow:
        record = await uow.mail.inbound(inbound_id, tenant_id)
        if record is None:
            return None
        if record.status != QUARANTINED:
            return record.status
        await uow.mail.finish_inbound(
            inbound_id,
            status=PENDING,
            reason=None,
            ticket_id=None,
            now=utcnow(),
            only_if=QUARANTINED,
        )
        await uow.commit()
    return await process_inbound(inbound_id, context)

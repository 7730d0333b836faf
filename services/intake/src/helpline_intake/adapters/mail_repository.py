"""Mailboxes, stored inbound mail and the Message-IDs that thread it, per tenant."""

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_intake.adapters.orm import inbound_messages, mailbox_addresses, mailboxes, thread_ids
from helpline_intake.domain.directory import Mailbox
from helpline_intake.domain.errors import AlreadyExists
from helpline_intake.domain.inbound import PENDING, InboundRecord
from helpline_shared.runtime.db import dialect_insert, insert_all

_INBOUND_FIELDS = (
    "id",
    "tenant_id",
    "mailbox",
    "dedup_key",
    "email_message_id",
    "recipients",
    "source",
    "size",
    "status",
    "reason",
    "ticket_id",
    "received_at",
    "content_sha256",
    "processed_at",
)


def _inbound(row: Any) -> InboundRecord:
    return InboundRecord(**{name: getattr(row, name) for name in _INBOUND_FIELDS})


class MailRepository:
    """Reads and writes intake's mail tables inside the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._dialect = session.get_bind().dialect.name
        self._insert = dialect_insert(self._dialect)
        self._remembered: list[dict[str, str]] = []
        """Thread ids ``remember_sent_id`` has not written yet."""

    async def add_mailbox(self, mailbox: Mailbox) -> None:
        """Insert a mailbox; ``AlreadyExists`` if one of its addresses is taken."""
        taken = (
            await self._session.execute(
                select(mailbox_addresses.c.address).where(
                    mailbox_addresses.c.address.in_(mailbox.addresses)
                )
            )
        ).first()
        if taken:
            # Which address, and whose, is not said: a 409 must not map other tenants' mail.
            raise AlreadyExists("an address of this mailbox is taken already")
        await self._session.execute(insert(mailboxes).values(**asdict(mailbox)))
        await self._session.execute(
            insert(mailbox_addresses),
            [
                {"address": address, "mailbox_id": mailbox.id, "tenant_id": mailbox.tenant_id}
                for address in dict.fromkeys(mailbox.addresses)
            ],
        )

    async def mailbox(self, tenant_id: str, mailbox_id: str) -> Mailbox | None:
        """The tenant's mailbox with that id."""
        row = (
            await self._session.execute(
                select(mailboxes).where(
                    mailboxes.c.id == mailbox_id, mailboxes.c.tenant_id == tenant_id
                )
            )
        ).first()
        return Mailbox(**row._mapping) if row else None

    async def mailboxes(self, tenant_id: str | None = None) -> list[Mailbox]:
        """The tenant's mailboxes (every tenant's when None), oldest first."""
        query = select(mailboxes).order_by(mailboxes.c.created_at, mailboxes.c.id)
        if tenant_id is not None:
            query = query.where(mailboxes.c.tenant_id == tenant_id)
        return [Mailbox(**row._mapping) for row in await self._session.execute(query)]

    async def remove_mailbox(self, tenant_id: str, mailbox_id: str) -> bool:
        """Delete the tenant's mailbox and its addresses; False if there is none."""
        result = await self._session.execute(
            delete(mailboxes).where(
                mailboxes.c.id == mailbox_id, mailboxes.c.tenant_id == tenant_id
            )
        )
        if not getattr(result, "rowcount", 0):
            return False
        await self._session.execute(
            delete(mailbox_addresses).where(mailbox_addresses.c.mailbox_id == mailbox_id)
        )
        return True

    async def resolve(self, address: str) -> Mailbox | None:
        """The mailbox an address (main or alias, lower-cased) delivers to."""
        row = (
            await self._session.execute(
                select(mailboxes)
                .join(mailbox_addresses, mailbox_addresses.c.mailbox_id == mailboxes.c.id)
                .where(mailbox_addresses.c.address == address.lower())
            )
        ).first()
        return Mailbox(**row._mapping) if row else None

    async def save_imap_position(self, mailbox_id: str, uidvalidity: int, last_uid: int) -> None:
        """Remember how far the poller got in the mailbox's IMAP folder."""
        await self._session.execute(
            update(mailboxes)
            .where(mailboxes.c.id == mailbox_id)
            .values(imap_uidvalidity=uidvalidity, imap_last_uid=last_uid)
        )

    async def store_inbound(self, record: InboundRecord, raw: bytes) -> bool:
        """Insert a received mail; False if the tenant has it already (same key and content)."""
        result = await self._session.execute(
            self._insert(inbound_messages)
            .values(**asdict(record), raw=raw)
            .on_conflict_do_nothing()
        )
        return bool(getattr(result, "rowcount", 0))

    async def inbound(self, inbound_id: str, tenant_id: str | None = None) -> InboundRecord | None:
        """A stored mail's record (without the bytes)."""
        query = select(*[inbound_messages.c[name] for name in _INBOUND_FIELDS]).where(
            inbound_messages.c.id == inbound_id
        )
        if tenant_id is not None:
            query = query.where(inbound_messages.c.tenant_id == tenant_id)
        row = (await self._session.execute(query)).first()
        return _inbound(row) if row else None

    async def raw(self, inbound_id: str) -> bytes:
        """The stored bytes of a mail."""
        value = (
            await self._session.execute(
                select(inbound_messages.c.raw).where(inbound_messages.c.id == inbound_id)
            )
        ).scalar_one()
        return bytes(value)

    async def finish_inbound(
        self,
        inbound_id: str,
        *,
        status: str,
        reason: str | None,
        ticket_id: str | None,
        now: datetime,
        only_if: str = PENDING,
    ) -> bool:
        """Record what became of a stored mail; False if it was no longer ``only_if``."""
        # The status condition makes two processors of one mail race safely: one wins.
        result = await self._session.execute(
            update(inbound_messages)
            .where(inbound_messages.c.id == inbound_id, inbound_messages.c.status == only_if)
            .values(status=status, reason=reason, ticket_id=ticket_id, processed_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

    async def inbound_list(
        self,
        *,
        status: str,
        tenant_id: str | None = None,
        limit: int = 100,
        before: datetime | None = None,
        after_id: str | None = None,
    ) -> list[InboundRecord]:
        """Stored mails in ``status``, oldest first (every tenant's when ``tenant_id`` is None)."""
        query = select(*[inbound_messages.c[name] for name in _INBOUND_FIELDS]).where(
            inbound_messages.c.status == status
        )
        if tenant_id is not None:
            query = query.where(inbound_messages.c.tenant_id == tenant_id)
        if before is not None:
            query = query.where(inbound_messages.c.received_at < before)
        if after_id is not None:
            query = query.where(inbound_messages.c.id > after_id)
        rows = await self._session.execute(query.order_by(inbound_messages.c.id).limit(limit))
        return [_inbound(row) for row in rows]

    async def thread_ticket(self, tenant_id: str, email_message_ids: list[str]) -> str | None:
        """The ticket of the first of ``email_message_ids`` received or sent on one."""
        if not email_message_ids:
            return None
        await self.flush()
        rows = (
            await self._session.execute(
                select(thread_ids).where(
                    thread_ids.c.tenant_id == tenant_id,
                    thread_ids.c.email_message_id.in_(email_message_ids[:100]),
                )
            )
        ).all()
        known = {row.email_message_id: row.ticket_id for row in rows}
        for email_message_id in email_message_ids:
            if email_message_id in known:
                return str(known[email_message_id])
        return None

    async def remember_thread_id(
        self, tenant_id: str, email_message_id: str, ticket_id: str, direction: str
    ) -> None:
        """Record a Message-ID received or sent on a ticket (first one wins)."""
        await self._session.execute(
            self._insert(thread_ids)
            .values(
                tenant_id=tenant_id,
                email_message_id=email_message_id,
                ticket_id=ticket_id,
                direction=direction,
            )
            .on_conflict_do_nothing()
        )

    async def remember_sent_id(self, tenant_id: str, email_message_id: str, ticket_id: str) -> None:
        """Record the Message-ID of a mail sent on a ticket (first one wins), written by
        ``flush``: the ids a batch of deliveries brings cost one statement."""
        self._remembered.append(
            {
                "tenant_id": tenant_id,
                "email_message_id": email_message_id,
                "ticket_id": ticket_id,
                "direction": "out",
            }
        )

    def discard(self) -> None:
        """Forget the thread ids ``remember_sent_id`` kept (the transaction rolled back)."""
        self._remembered = []

    async def flush(self) -> None:
        """Write the thread ids ``remember_sent_id`` kept (at the commit, or before a read)."""
        remembered, self._remembered = self._remembered, []
        await insert_all(self._session, thread_ids, remembered, skipping_present=True)

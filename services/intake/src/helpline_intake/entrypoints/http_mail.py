"""Mailboxes and quarantined mail over HTTP (permission mail.manage)."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from helpline_intake.adapters.orm import idempotent_requests
from helpline_intake.domain.directory import Mailbox
from helpline_intake.domain.errors import AlreadyExists, DomainNotVerified, NotFound
from helpline_intake.domain.inbound import QUARANTINED, InboundRecord
from helpline_intake.entrypoints.downloads import download_headers
from helpline_intake.entrypoints.imap import ImapPolicy
from helpline_intake.entrypoints.schemas import Address, Tags
from helpline_intake.service_layer import requesters as directory
from helpline_intake.service_layer.email_intake import MailProcessing, replay
from helpline_shared import netguard
from helpline_shared.events import Priority, TicketType
from helpline_shared.inputs import SafeLine
from helpline_shared.runtime import idempotency
from helpline_shared.runtime.auth import Principal, require
from helpline_shared.runtime.problems import not_found


class ImapIn(BaseModel):
    """An IMAP account intake polls for this mailbox."""

    model_config = ConfigDict(extra="forbid")

    host: SafeLine = Field(min_length=1, max_length=253)
    port: int = Field(default=993, ge=1, le=65535)
    username: SafeLine = Field(min_length=1, max_length=320)
    password: SafeLine = Field(min_length=1, max_length=1000)
    folder: SafeLine = Field(default="INBOX", min_length=1, max_length=200)
    move_to: SafeLine | None = Field(default=None, max_length=200)
    ssl: bool = Field(
        default=True,
        description="IMAPS (implicit TLS); false: STARTTLS on a "
        "plain port, required unless the operator "
        "allows plaintext for development",
    )


class MailboxIn(BaseModel):
    """A support address of the tenant and the defaults of tickets it opens."""

    model_config = ConfigDict(extra="forbid")

    address: Address
    aliases: list[Address] = Field(default_factory=list, max_length=20)
    priority: Priority = "normal"
    type: TicketType = "question"
    tags: Tags = Field(default_factory=list)
    imap: ImapIn | None = None


class MailboxOut(BaseModel):
    """A mailbox as the API shows it (never the IMAP password)."""

    id: str
    address: str
    aliases: list[str]
    priority: Priority
    type: TicketType
    tags: list[str]
    imap_host: str | None
    created_at: datetime

    @classmethod
    def of(cls, mailbox: Mailbox) -> "MailboxOut":
        """Present ``mailbox``."""
        return cls(
            id=mailbox.id,
            address=mailbox.address,
            aliases=mailbox.aliases,
            priority=mailbox.priority,
            type=mailbox.type,
            tags=mailbox.tags,
            imap_host=(mailbox.imap or {}).get("host"),
            created_at=mailbox.created_at,
        )


class InboundOut(BaseModel):
    """A stored inbound mail (quarantined ones carry their reason)."""

    id: str
    mailbox: str
    email_message_id: str | None
    source: str
    size: int
    status: str
    reason: str | None
    ticket_id: str | None
    received_at: datetime

    @classmethod
    def of(cls, record: InboundRecord) -> "InboundOut":
        """Present ``record``."""
        return cls(
            id=record.id,
            mailbox=record.mailbox,
            email_message_id=record.email_message_id,
            source=record.source,
            size=record.size,
            status=record.status,
            reason=record.reason,
            ticket_id=record.ticket_id,
            received_at=record.received_at,
        )


def router(processing: MailProcessing, imap_policy: ImapPolicy) -> APIRouter:
    """The ``/v1/mailboxes`` and ``/v1/quarantine`` routes."""
    idempotent = idempotency.IdempotentCreates(processing.unit_of_work, idempotent_requests)
    api = APIRouter(prefix="/v1", tags=["email"])
    admin = require("mail.manage")
    unit_of_work = processing.unit_of_work

    @api.post(
        "/mailboxes", status_code=201, responses=idempotency.RESPONSES, response_model=MailboxOut
    )
    @idempotent
    async def create_mailbox(body: MailboxIn, principal: Principal = admin) -> MailboxOut:
        """Configure a support address; mail to it (or an alias) opens tickets."""
        imap: dict[str, Any] | None = body.imap.model_dump() if body.imap else None
        if body.imap is not None:
            # A literal address is judged now; host names at each poll, after DNS.
            reason = netguard.literal_refusal(
                body.imap.host, allow_private_networks=imap_policy.allow_private_networks
            )
            if reason:
                raise HTTPException(422, f"imap.host: the host is {reason}")
        try:
            mailbox = await directory.add_mailbox(
                directory.AddMailbox(
                    tenant_id=principal.tenant_id,
                    address=str(body.address),
                    aliases=[str(alias) for alias in body.aliases],
                    priority=body.priority,
                    type=body.type,
                    tags=body.tags,
                    imap=imap,
                ),
                unit_of_work(),
            )
        except DomainNotVerified as error:
            raise HTTPException(422, f"{error.field}: {error}") from error
        except AlreadyExists as error:
            raise HTTPException(409, f"address: {error}") from error
        return MailboxOut.of(mailbox)

    @api.get("/mailboxes", response_model=list[MailboxOut])
    async def list_mailboxes(principal: Principal = admin) -> list[MailboxOut]:
        """The tenant's mailboxes."""
        async with unit_of_work().read_only() as uow:
            found = await uow.mail.mailboxes(principal.tenant_id)
        return [MailboxOut.of(item) for item in found]

    @api.get("/mailboxes/{mailbox_id}", response_model=MailboxOut)
    async def get_mailbox(mailbox_id: str, principal: Principal = admin) -> MailboxOut:
        """One mailbox."""
        async with unit_of_work().read_only() as uow:
            found = await uow.mail.mailbox(principal.tenant_id, mailbox_id)
        if found is None:
            raise not_found("mailbox")
        return MailboxOut.of(found)

    @api.delete("/mailboxes/{mailbox_id}", status_code=204, response_class=Response)
    async def delete_mailbox(mailbox_id: str, principal: Principal = admin) -> Response:
        """Stop taking mail for the mailbox (its tickets and stored mail stay)."""
        try:
            await directory.remove_mailbox(principal.tenant_id, mailbox_id, unit_of_work())
        except NotFound as error:
            raise not_found("mailbox") from error
        return Response(status_code=204)

    @api.get("/quarantine", response_model=list[InboundOut])
    async def list_quarantine(
        principal: Principal = admin,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        after: Annotated[str | None, Query(max_length=64)] = None,
    ) -> list[InboundOut]:
        """Quarantined mail with its reason (page with ``after`` = the last id)."""
        async with unit_of_work().read_only() as uow:
            found = await uow.mail.inbound_list(
                status=QUARANTINED, tenant_id=principal.tenant_id, limit=limit, after_id=after
            )
        return [InboundOut.of(item) for item in found]

    @api.get("/quarantine/{inbound_id}", response_model=InboundOut)
    async def get_quarantined(inbound_id: str, principal: Principal = admin) -> InboundOut:
        """One stored inbound mail and what became of it."""
        async with unit_of_work().read_only() as uow:
            found = await uow.mail.inbound(inbound_id, principal.tenant_id)
        if found is None:
            raise not_found("message")
        return InboundOut.of(found)

    @api.get(
        "/quarantine/{inbound_id}/raw",
        response_class=Response,
        responses={200: {"content": {"message/rfc822": {}}}},
    )
    async def download_quarantined(inbound_id: str, principal: Principal = admin) -> Response:
        """The raw mail, as received."""
        async with unit_of_work().read_only() as uow:
            found = await uow.mail.inbound(inbound_id, principal.tenant_id)
            if found is None:
                raise not_found("message")
            raw = await uow.mail.raw(inbound_id)
        return Response(
            raw, media_type="message/rfc822", headers=download_headers(f"{inbound_id}.eml")
        )

    @api.post("/quarantine/{inbound_id}/replay", response_model=InboundOut)
    async def replay_quarantined(inbound_id: str, principal: Principal = admin) -> InboundOut:
        """Process a quarantined mail again (after a fix); shows the new outcome."""
        status = await replay(principal.tenant_id, inbound_id, processing)
        if status is None:
            raise not_found("message")
        async with unit_of_work().read_only() as uow:
            found = await uow.mail.inbound(inbound_id, principal.tenant_id)
        assert found is not None
        return InboundOut.of(found)

    return api

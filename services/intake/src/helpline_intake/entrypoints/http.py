"""Intake's ticket API: parse, call one handler, map the result or the error."""

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import AfterValidator

from helpline_intake.adapters.orm import idempotent_requests
from helpline_intake.adapters.repository import (
    SlaFilter,
    TicketFilter,
    TicketSort,
    decode_cursor,
    encode_cursor,
)
from helpline_intake.domain.errors import CannotMerge, TicketClosed, TicketNotFound
from helpline_intake.domain.model import new_id
from helpline_intake.domain.ports import AttachmentStore
from helpline_intake.entrypoints.attribution import message_author
from helpline_intake.entrypoints.downloads import download_headers
from helpline_intake.entrypoints.schemas import (
    AttachmentIn,
    MergeIn,
    MessageIn,
    MessageOut,
    Tag,
    TicketIn,
    TicketOut,
    TicketPage,
    TicketPatch,
)
from helpline_intake.service_layer import handlers
from helpline_intake.service_layer.handlers import UnitOfWorkFactory
from helpline_shared.events import Priority, TicketStatus, TicketType
from helpline_shared.inputs import Instant, refuse_unsafe_line
from helpline_shared.runtime import idempotency
from helpline_shared.runtime.audit import audit_with_change
from helpline_shared.runtime.auth import Principal, event_actor, require
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.problems import invalid_field, not_found

Search = Annotated[
    str,
    Query(
        min_length=1,
        max_length=200,
        description="A substring of the subject, requester address or name, any case.",
    ),
    AfterValidator(refuse_unsafe_line),
]


def _conflict(detail: str, field: str) -> HTTPException:
    return HTTPException(409, f"{field}: {detail}")


async def _store_attachments(
    items: list[AttachmentIn], tenant_id: str, store: AttachmentStore, max_size: int
) -> list[dict[str, Any]]:
    stored: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        field = f"attachments.{index}.content_base64"
        try:
            data = base64.b64decode(item.content_base64, validate=True)
        except (binascii.Error, ValueError) as error:
            raise HTTPException(400, f"{field}: not valid base64") from error
        if len(data) > max_size:
            raise HTTPException(413, f"{field}: larger than {max_size} bytes")
        file = await store.put(tenant_id, data)
        stored.append(
            {
                "id": new_id(),
                "filename": item.filename,
                "content_type": item.content_type,
                "size": file.size,
                "sha256": file.sha256,
                "key": file.key,
                "inline": False,
                "content_id": None,
            }
        )
    return stored


def router(
    unit_of_work: UnitOfWorkFactory,
    max_page_size: int,
    store: AttachmentStore,
    max_attachment_size: int,
    clock: Callable[[], datetime] = utcnow,
) -> APIRouter:
    """The ``/v1/tickets`` routes on ``unit_of_work``; ``clock`` says when `at_risk` counts from."""
    api = APIRouter(prefix="/v1/tickets", tags=["tickets"])
    idempotent = idempotency.IdempotentCreates(unit_of_work, idempotent_requests)
    openings = handlers.ticket_openings(unit_of_work)
    reader = require("tickets.read")
    creator = require("tickets.create")
    updater = require("tickets.update")
    replier = require("tickets.reply")

    @api.post("", status_code=201, response_model=TicketOut, responses=idempotency.RESPONSES)
    @idempotent
    async def create_ticket(
        body: TicketIn, request: Request, principal: Principal = creator
    ) -> TicketOut:
        """Open a ticket; with ``Idempotency-Key`` a retry returns the original ticket."""
        ticket = await openings.run(
            handlers.OpenTicket(
                tenant_id=principal.tenant_id,
                subject=body.subject,
                description=body.description,
                requester=body.requester.requester(),
                priority=body.priority,
                type=body.type,
                tags=body.tags,
                channel="api",
                actor=event_actor(principal),
                audit=audit_with_change(request),
            )
        )
        return TicketOut.of(ticket)

    @api.get("", response_model=TicketPage)
    async def list_tickets(
        principal: Principal = reader,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 25,
        status: TicketStatus | None = None,
        priority: Priority | None = None,
        type: TicketType | None = None,
        assignee: Annotated[str | None, Query(max_length=64)] = None,
        tag: Tag | None = None,
        requester: Annotated[str | None, Query(max_length=320)] = None,
        organization_id: Annotated[str | None, Query(max_length=64)] = None,
        created_after: Instant | None = None,
        created_before: Instant | None = None,
        updated_after: Instant | None = None,
        updated_before: Instant | None = None,
        unassigned: Annotated[
            bool | None,
            Query(
                description="`true`: only tickets without an assignee; `false`: only assigned ones."
            ),
        ] = None,
        team: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=100,
                description="Only tickets routing's rules classified to this team.",
            ),
        ] = None,
        sla: Annotated[
            SlaFilter | None,
            Query(
                description="`breached`: an SLA clock breached; `at_risk`: a running clock is due "
                "within the next hour."
            ),
        ] = None,
        q: Search | None = None,
        sort: Annotated[
            TicketSort,
            Query(
                description="`created`: oldest first; `sla`: the next deadline of a running clock "
                "first, tickets without one last (a cursor keeps its sort)."
            ),
        ] = "created",
    ) -> TicketPage:
        """The tenant's tickets, one page at a time, filtered and sorted."""
        try:
            after = decode_cursor(cursor, sort) if cursor else None
        except ValueError as error:
            raise invalid_field("cursor", str(error)) from error
        page_size = min(limit, max_page_size)
        where = TicketFilter(
            status=status,
            priority=priority,
            type=type,
            assignee_id=assignee,
            tag=tag,
            requester_email=requester.lower() if requester else None,
            organization_id=organization_id,
            created_after=created_after,
            created_before=created_before,
            updated_after=updated_after,
            updated_before=updated_before,
            unassigned=unassigned,
            team=team,
            sla=sla,
            text=q,
            now=clock(),
        )
        async with unit_of_work().read_only() as uow:
            tickets = await uow.tickets.page(
                principal.tenant_id, limit=page_size + 1, after=after, where=where, sort=sort
            )
        more = len(tickets) > page_size
        tickets = tickets[:page_size]
        return TicketPage(
            items=[TicketOut.of(ticket) for ticket in tickets],
            next_cursor=encode_cursor(tickets[-1], sort) if more else None,
        )

    @api.get("/{ticket_id}", response_model=TicketOut)
    async def get_ticket(ticket_id: str, principal: Principal = reader) -> TicketOut:
        """One ticket, with its assignee and SLA state."""
        async with unit_of_work().read_only() as uow:
            ticket = await uow.tickets.get(principal.tenant_id, ticket_id)
        if ticket is None:
            raise not_found("ticket")
        return TicketOut.of(ticket)

    @api.patch("/{ticket_id}", response_model=TicketOut)
    async def update_ticket(
        ticket_id: str, body: TicketPatch, principal: Principal = updater
    ) -> TicketOut:
        """Change status, priority, type or tags."""
        try:
            ticket = await handlers.update_ticket(
                handlers.UpdateTicket(
                    tenant_id=principal.tenant_id,
                    ticket_id=ticket_id,
                    status=body.status,
                    priority=body.priority,
                    type=body.type,
                    tags=body.tags,
                    actor=event_actor(principal),
                ),
                unit_of_work(),
            )
        except TicketNotFound as error:
            raise not_found("ticket") from error
        except TicketClosed as error:
            raise _conflict("the ticket is closed and cannot change", "status") from error
        return TicketOut.of(ticket)

    @api.post("/{ticket_id}/merge", response_model=TicketOut)
    async def merge_ticket(
        ticket_id: str, body: MergeIn, principal: Principal = updater
    ) -> TicketOut:
        """Merge this duplicate into ``into_ticket_id``; returns the ticket merged into."""
        try:
            target = await handlers.merge_tickets(
                handlers.MergeTickets(
                    tenant_id=principal.tenant_id,
                    source_id=ticket_id,
                    target_id=body.into_ticket_id,
                    actor=event_actor(principal),
                ),
                unit_of_work(),
            )
        except TicketNotFound as error:
            raise not_found("ticket") from error
        except CannotMerge as error:
            raise _conflict(
                "cannot merge a ticket into itself or a merged ticket", "into_ticket_id"
            ) from error
        return TicketOut.of(target)

    @api.post(
        "/{ticket_id}/messages",
        status_code=201,
        response_model=MessageOut,
        responses=idempotency.RESPONSES,
    )
    @idempotent
    async def add_message(
        ticket_id: str, body: MessageIn, request: Request, principal: Principal = replier
    ) -> MessageOut:
        """Add a public reply or an internal note, with attachments, as the caller.

        A person writes as themselves (`agent`, their user id); an integration key as an
        `agent` (the user it is bound to, if any); a service as `system`. Setting `author_role`
        or `author_id` takes permission `tickets.import` (scope `tickets:import`) and is audited.
        """
        author_role, author_id, audit = message_author(
            principal,
            body.model_fields_set,
            body.author_role,
            body.author_id,
            ticket_id=ticket_id,
            request=request,
        )
        async with unit_of_work().read_only() as uow:
            if await uow.tickets.get(principal.tenant_id, ticket_id) is None:
                raise not_found("ticket")
        files = await _store_attachments(
            body.attachments, principal.tenant_id, store, max_attachment_size
        )
        try:
            message = await handlers.add_message(
                handlers.AddMessage(
                    tenant_id=principal.tenant_id,
                    ticket_id=ticket_id,
                    author_role=author_role,
                    author_id=author_id,
                    public=body.public,
                    channel="api",
                    body=body.body,
                    attachments=tuple(files),
                    actor=event_actor(principal),
                    audit=audit,
                ),
                unit_of_work(),
            )
        except TicketNotFound as error:
            raise not_found("ticket") from error
        except TicketClosed as error:
            raise _conflict("the ticket is closed; open a new one", "ticket_id") from error
        return MessageOut.of(message)

    @api.get("/{ticket_id}/messages", response_model=list[MessageOut])
    async def list_messages(
        ticket_id: str,
        principal: Principal = reader,
        limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    ) -> list[MessageOut]:
        """The ticket's messages in order (at most ``limit``)."""
        async with unit_of_work().read_only() as uow:
            if await uow.tickets.get(principal.tenant_id, ticket_id) is None:
                raise not_found("ticket")
            messages = await uow.tickets.messages(principal.tenant_id, ticket_id)
        return [MessageOut.of(message) for message in messages[:limit]]

    @api.get(
        "/{ticket_id}/messages/{message_id}/attachments/{attachment_id}",
        response_class=Response,
        responses={200: {"content": {"*/*": {}}}},
    )
    async def download_attachment(
        ticket_id: str, message_id: str, attachment_id: str, principal: Principal = reader
    ) -> Response:
        """The bytes of an attachment."""
        async with unit_of_work().read_only() as uow:
            messages = await uow.tickets.messages(principal.tenant_id, ticket_id)
        for message in messages:
            if message.id != message_id:
                continue
            for item in message.attachments:
                if item["id"] == attachment_id:
                    data = await store.get(principal.tenant_id, item["key"])
                    return Response(
                        data,
                        media_type=item["content_type"],
                        headers=download_headers(item["filename"]),
                    )
        raise not_found("attachment")

    return api

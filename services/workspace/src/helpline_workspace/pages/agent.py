"""The agent's pages: My work, Tickets, a ticket, and what an agent does there (answer offers,
reply or note with attachments, change status, priority and tags).

Every form works without JavaScript: it posts, and the answer is a redirect back with a flash
message (or the page again with the error beside the form, the draft kept).
"""

import asyncio
import base64
import re
from collections.abc import Awaitable
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from helpline_workspace.apis import ApiError, Apis
from helpline_workspace.pages.agent_views import (
    OPEN_STATUSES,
    PRIORITIES,
    SLA_FILTERS,
    STATUSES,
    TicketFilters,
    by_next_deadline,
    clock_history,
    conversation,
    metric_badge,
    metric_name,
    named,
    tags_of,
    ticket_badge,
)
from helpline_workspace.web import SignedIn, now_of, render, session_of

router = APIRouter()
PAGE_SIZE = 25
MY_WORK_LIMIT = 100
"""Tickets per status on My work (sorted by the next SLA deadline, so the urgent ones)."""
MAX_ATTACHMENTS = 10
MAX_ATTACHMENT_BYTES = 10_000_000
"""Per file; intake takes at most 14,000,000 base64 characters (about 10.5 MB)."""
MAX_BODY = 100_000
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
T = TypeVar("T")


def _checked(identifier: str) -> str:
    """An id safe to put in a service's path; anything else is no page of ours (404)."""
    if not ID.fullmatch(identifier) or ".." in identifier:
        raise HTTPException(404)
    return identifier


async def _optional(call: Awaitable[T]) -> tuple[T | None, str | None]:
    """A call whose failure is shown in its part of the page: (value, None) or (None, why);
    a 404 is (None, None): the service has nothing on it (yet)."""
    try:
        return await call, None
    except ApiError as error:
        return None, None if error.status == 404 else error.message


def _flash(request: Request, message: str) -> None:
    session_of(request).flash.append(message)


def _back(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


async def _my_agent(apis: Apis) -> dict[str, Any] | None:
    """The routing agent the signed-in person is, if any."""
    found = await apis.get("routing", "/v1/agents", user_id=apis.person.user_id)
    return found[0] if isinstance(found, list) and found else None


async def _agent_names(apis: Apis) -> tuple[dict[str, str], dict[str, str]]:
    """Agents' names by agent id and by user id (empty when routing cannot say)."""
    agents, _ = await _optional(apis.get("routing", "/v1/agents"))
    by_agent = {str(a["id"]): str(a["name"]) for a in agents or [] if isinstance(a, dict)}
    by_user = {
        str(a["user_id"]): str(a["name"])
        for a in agents or []
        if isinstance(a, dict) and a.get("user_id")
    }
    return by_agent, by_user


async def _subject(apis: Apis, ticket_id: str) -> str | None:
    """An offered ticket's subject (None when intake cannot say: the page names its id)."""
    if not ID.fullmatch(ticket_id):
        return None
    ticket, _ = await _optional(apis.get("intake", f"/v1/tickets/{ticket_id}"))
    return str(ticket["subject"]) if isinstance(ticket, dict) else None


@router.get("/work")
async def my_work(request: Request, apis: SignedIn) -> Response:
    """My open tickets, the next SLA deadline first, and the offers waiting for my answer."""
    now = now_of(request)
    agent = await _my_agent(apis)
    offers: list[dict[str, Any]] = []
    offers_error: str | None = None
    tickets: list[dict[str, Any]] = []
    if agent is not None:
        (found, offers_error), *pages = await asyncio.gather(
            _optional(apis.get("routing", "/v1/offers", agent_id=agent["id"], status="pending")),
            *(
                apis.get(
                    "intake",
                    "/v1/tickets",
                    assignee=agent["id"],
                    status=status,
                    sort="sla",
                    limit=MY_WORK_LIMIT,
                )
                for status in OPEN_STATUSES
            ),
        )
        offers = [offer for offer in found or [] if isinstance(offer, dict)]
        tickets = by_next_deadline([ticket for page in pages for ticket in page["items"]])
        subjects = await asyncio.gather(
            *(_subject(apis, str(offer["ticket_id"])) for offer in offers)
        )
        for offer, subject in zip(offers, subjects, strict=True):
            offer["subject"] = subject
    rows = [{"ticket": ticket, "badge": ticket_badge(ticket.get("sla"), now)} for ticket in tickets]
    return render(
        request,
        "work.html",
        active="work",
        agent=agent,
        rows=rows,
        tickets=tickets,
        offers=offers,
        offers_error=offers_error,
    )


@router.post("/offers/{offer_id}/accept")
async def accept_offer(request: Request, offer_id: str, apis: SignedIn) -> Response:
    """Accept an offer: the ticket becomes mine."""
    try:
        await apis.post("routing", f"/v1/offers/{_checked(offer_id)}/accept")
    except ApiError as error:
        if error.status not in (404, 409):
            raise
        _flash(request, f"The offer could not be accepted: {error.message}")
    else:
        _flash(request, "Offer accepted: the ticket is yours.")
    return _back("/work")


@router.post("/offers/{offer_id}/decline")
async def decline_offer(request: Request, offer_id: str, apis: SignedIn) -> Response:
    """Decline an offer: it goes to the next agent."""
    try:
        await apis.post("routing", f"/v1/offers/{_checked(offer_id)}/decline", {})
    except ApiError as error:
        if error.status not in (404, 409):
            raise
        _flash(request, f"The offer could not be declined: {error.message}")
    else:
        _flash(request, "Offer declined: it goes to the next agent.")
    return _back("/work")


@router.get("/tickets")
async def tickets(request: Request, apis: SignedIn) -> Response:
    """Every ticket of the tenant, filtered and searched, one page at a time."""
    now = now_of(request)
    filters = TicketFilters.of(request.query_params)
    cursor = request.query_params.get("cursor", "")[:500]
    page, (names, _) = await asyncio.gather(
        apis.get("intake", "/v1/tickets", **filters.params(), cursor=cursor, limit=PAGE_SIZE),
        _agent_names(apis),
    )
    rows = [
        {
            "ticket": ticket,
            "badge": ticket_badge(ticket.get("sla"), now),
            "assignee": names.get(str(ticket.get("assignee")), ticket.get("assignee")),
        }
        for ticket in page["items"]
    ]
    next_cursor = page.get("next_cursor")
    return render(
        request,
        "tickets.html",
        active="tickets",
        rows=rows,
        filters=filters,
        statuses=STATUSES,
        priorities=PRIORITIES,
        sla_filters=SLA_FILTERS,
        next_url=filters.url(next_cursor) if next_cursor else None,
        first_url=filters.url() if cursor else None,
    )


async def _ticket_page(
    request: Request,
    apis: Apis,
    ticket_id: str,
    *,
    status_code: int = 200,
    composer_error: str | None = None,
    properties_error: str | None = None,
    draft: str = "",
    kind: str = "reply",
) -> Response:
    """The ticket page, optionally with an error beside one of its forms."""
    ticket_id = _checked(ticket_id)
    now = now_of(request)
    (
        ticket,
        messages,
        (sla, sla_error),
        (routing, routing_error),
        (names, people),
    ) = await asyncio.gather(
        apis.get("intake", f"/v1/tickets/{ticket_id}"),
        apis.get("intake", f"/v1/tickets/{ticket_id}/messages"),
        _optional(apis.get("escalation", f"/v1/tickets/{ticket_id}/sla")),
        _optional(apis.get("routing", f"/v1/tickets/{ticket_id}/routing")),
        _agent_names(apis),
    )
    clocks = [
        {
            "metric": metric,
            "name": metric_name(metric),
            "clock": clock,
            "badge": metric_badge(clock, now),
            "history": clock_history(clock),
        }
        for metric, clock in ((sla or {}).get("metrics") or {}).items()
    ]
    steps = [
        {
            "at": step.get("at"),
            "kind": step.get("kind"),
            "summary": named(str(step.get("summary", "")), names),
            "candidates": [
                {
                    "name": names.get(str(c.get("agent_id")), c.get("agent_id")),
                    "outcome": c.get("outcome"),
                }
                for c in (step.get("detail") or {}).get("candidates") or []
            ],
        }
        for step in (routing or {}).get("history") or []
    ]
    return render(
        request,
        "ticket.html",
        status_code=status_code,
        active="tickets",
        ticket=ticket,
        badge=ticket_badge(ticket.get("sla"), now),
        entries=conversation(ticket, messages, people),
        assignee=names.get(str(ticket.get("assignee")), ticket.get("assignee")),
        clocks=clocks,
        sla_error=sla_error,
        routing=routing,
        steps=steps,
        routing_error=routing_error,
        statuses=STATUSES,
        priorities=PRIORITIES,
        composer_error=composer_error,
        properties_error=properties_error,
        draft=draft,
        kind=kind,
    )


@router.get("/tickets/{ticket_id}")
async def ticket(request: Request, ticket_id: str, apis: SignedIn) -> Response:
    """One ticket: the conversation, the composer, its properties, SLA clocks and routing."""
    return await _ticket_page(request, apis, ticket_id)


async def _attachments(files: list[UploadFile]) -> list[dict[str, str]]:
    """The files as intake takes them (base64); ValueError names a file that cannot go."""
    chosen = [file for file in files if file.filename]
    if len(chosen) > MAX_ATTACHMENTS:
        raise ValueError(f"Attach at most {MAX_ATTACHMENTS} files to one message.")
    encoded = []
    for file in chosen:
        data = await file.read(MAX_ATTACHMENT_BYTES + 1)
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise ValueError(f"{file.filename} is larger than 10 MB.")
        encoded.append(
            {
                "filename": str(file.filename).replace("/", "_").replace("\\", "_"),
                "content_type": file.content_type or "application/octet-stream",
                "content_base64": base64.b64encode(data).decode("ascii"),
            }
        )
    return encoded


@router.post("/tickets/{ticket_id}/messages")
async def send_message(request: Request, ticket_id: str, apis: SignedIn) -> Response:
    """Send a public reply or add an internal note, with attachments."""
    ticket_id = _checked(ticket_id)
    form = await request.form()
    body = str(form.get("body") or "").strip()
    kind = "note" if form.get("kind") == "note" else "reply"
    files = [item for item in form.getlist("attachments") if isinstance(item, UploadFile)]
    error: str | None = None
    attachments: list[dict[str, str]] = []
    if not body:
        error = "Write a message before sending."
    elif len(body) > MAX_BODY:
        error = f"The message is too long (at most {MAX_BODY:,} characters)."
    else:
        try:
            attachments = await _attachments(files)
        except ValueError as refused:
            error = str(refused)
    if error is None:
        try:
            await apis.post(
                "intake",
                f"/v1/tickets/{ticket_id}/messages",
                {"body": body, "public": kind == "reply", "attachments": attachments},
            )
        except ApiError as refused:
            if refused.status in (403, 404):
                raise
            error = refused.message
    if error is not None:
        return await _ticket_page(
            request, apis, ticket_id, status_code=422, composer_error=error, draft=body, kind=kind
        )
    _flash(request, "Reply sent" if kind == "reply" else "Internal note added")
    return _back(f"/tickets/{ticket_id}")


@router.post("/tickets/{ticket_id}/properties")
async def update_properties(request: Request, ticket_id: str, apis: SignedIn) -> Response:
    """Change the ticket's status, priority and tags."""
    ticket_id = _checked(ticket_id)
    form = await request.form()
    change: dict[str, Any] = {}
    status, priority = str(form.get("status") or ""), str(form.get("priority") or "")
    if status in STATUSES:
        change["status"] = status
    if priority in PRIORITIES:
        change["priority"] = priority
    if "tags" in form:
        change["tags"] = tags_of(str(form.get("tags") or ""))
    try:
        await apis.patch("intake", f"/v1/tickets/{ticket_id}", change)
    except ApiError as refused:
        if refused.status in (403, 404):
            raise
        return await _ticket_page(
            request, apis, ticket_id, status_code=422, properties_error=refused.message
        )
    _flash(request, "Ticket updated")
    return _back(f"/tickets/{ticket_id}")


@router.get("/tickets/{ticket_id}/messages/{message_id}/attachments/{attachment_id}")
async def attachment(
    ticket_id: str, message_id: str, attachment_id: str, apis: SignedIn
) -> Response:
    """An attachment's bytes, downloaded (never shown inline: it is someone else's file)."""
    path = (
        f"/v1/tickets/{_checked(ticket_id)}/messages/{_checked(message_id)}"
        f"/attachments/{_checked(attachment_id)}"
    )
    answer = await apis.request("GET", "intake", path)
    headers = {
        "Content-Disposition": answer.headers.get("content-disposition", "attachment"),
        "X-Content-Type-Options": "nosniff",
    }
    return Response(
        answer.content,
        media_type=answer.headers.get("content-type", "application/octet-stream"),
        headers=headers,
    )

"""The ``/v1/tickets/{ticket_id}/watchers`` routes: who hears of a ticket as ``watchers``."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field

from helpline_notify.domain.errors import NotWatching, NotYourWatch, UnknownPerson
from helpline_notify.entrypoints.http_common import ApiOptions, PathKey, RequestBody
from helpline_notify.service_layer import directory as use_cases
from helpline_shared.inputs import SafeLine
from helpline_shared.runtime.auth import Principal, require
from helpline_shared.runtime.problems import invalid_field, not_found


class WatcherIn(RequestBody):
    """The user to watch the ticket (an agent may name only themselves)."""

    user_id: SafeLine = Field(min_length=1, max_length=64)


class WatcherOut(BaseModel):
    """A user watching the ticket."""

    user_id: str
    name: str
    email: str
    since: str


def _change(principal: Principal, ticket_id: str, user_id: str) -> use_cases.WatchChange:
    return use_cases.WatchChange(
        tenant_id=principal.tenant_id,
        ticket_id=ticket_id,
        watcher=user_id,
        caller_kind=principal.kind,
        caller_role=principal.role,
        caller_user=principal.user_id,
    )


def router(options: ApiOptions) -> APIRouter:
    """The watcher routes."""
    api = APIRouter(prefix="/v1/tickets/{ticket_id}/watchers", tags=["watchers"])
    reader, watch = require("tickets.read"), require("tickets.watch")
    uow = options.unit_of_work

    @api.get("", response_model=list[WatcherOut])
    async def list_watchers(
        ticket_id: PathKey, principal: Annotated[Principal, reader]
    ) -> list[WatcherOut]:
        """The users watching the ticket, oldest first."""
        return [
            WatcherOut(user_id=person.user_id, name=person.name, email=person.email, since=since)
            for person, since in await use_cases.watchers(principal.tenant_id, ticket_id, uow())
        ]

    @api.post("", status_code=204)
    async def add_watcher(
        ticket_id: PathKey, body: WatcherIn, principal: Annotated[Principal, watch]
    ) -> Response:
        """Make a user watch the ticket: agents only themselves, leads and admins anyone."""
        try:
            await use_cases.add_watcher(_change(principal, ticket_id, body.user_id), uow())
        except NotYourWatch as error:
            raise HTTPException(403, "user_id: an agent may only add themselves") from error
        except UnknownPerson as error:
            raise invalid_field(
                "user_id", "no active user of the tenant has this id", "body"
            ) from error
        return Response(status_code=204)

    @api.delete("/{user_id}", status_code=204)
    async def remove_watcher(
        ticket_id: PathKey, user_id: PathKey, principal: Annotated[Principal, watch]
    ) -> Response:
        """Stop a user watching the ticket: agents only themselves, leads and admins anyone."""
        try:
            await use_cases.remove_watcher(_change(principal, ticket_id, user_id), uow())
        except NotYourWatch as error:
            raise HTTPException(403, "user_id: an agent may only remove themselves") from error
        except NotWatching as error:
            raise not_found("watcher") from error
        return Response(status_code=204)

    return api

"""Identity's events into notify's directory, and who watches a ticket (the use cases)."""

from dataclasses import dataclass

from helpline_notify.domain.errors import NotWatching, NotYourWatch, UnknownPerson
from helpline_notify.domain.people import Person, may_watch_for
from helpline_notify.service_layer.unit_of_work import NotifyUnitOfWork
from helpline_shared.envelope import Envelope
from helpline_shared.events import (
    TeamChanged,
    TenantCreated,
    TenantDeleted,
    UserCreated,
    UserDeactivated,
    UserUpdated,
)
from helpline_shared.runtime.db import utcnow

DIRECTORY_EVENTS = (
    UserCreated,
    UserUpdated,
    UserDeactivated,
    TeamChanged,
    TenantCreated,
    TenantDeleted,
)
"""Identity's events that change notify's directory (the others notify does not read)."""


async def apply_identity_event(uow: NotifyUnitOfWork, envelope: Envelope) -> None:
    """Keep notify's people, teams and tenant names as identity announces them."""
    event = envelope.event
    if isinstance(event, UserCreated | UserUpdated):
        await uow.directory.save_person(
            Person(
                tenant_id=event.tenant_id,
                user_id=event.user_id,
                name=event.name,
                email=str(event.email),
                role=event.role,
                teams=tuple(event.teams),
                active=getattr(event, "active", True),
            )
        )
    elif isinstance(event, UserDeactivated):
        await uow.directory.deactivate(event.tenant_id, event.user_id)
    elif isinstance(event, TeamChanged):
        await uow.directory.save_team(event.tenant_id, event.team_id, event.name, event.deleted)
    elif isinstance(event, TenantCreated):
        await uow.directory.save_tenant_name(event.tenant_id, event.name)
    elif isinstance(event, TenantDeleted):
        await uow.directory.forget_tenant(event.tenant_id)


@dataclass(frozen=True)
class WatchChange:
    """Who asks (kind, role and user of the credential) that ``watcher`` watch a ticket, or stop."""

    tenant_id: str
    ticket_id: str
    watcher: str
    caller_kind: str
    caller_role: str | None
    caller_user: str | None


def _check(change: WatchChange) -> None:
    if not may_watch_for(
        kind=change.caller_kind,
        role=change.caller_role,
        acting_user=change.caller_user,
        watcher=change.watcher,
    ):
        raise NotYourWatch(change.watcher)


async def add_watcher(change: WatchChange, uow: NotifyUnitOfWork) -> None:
    """Make an active user of the tenant watch the ticket."""
    _check(change)
    async with uow:
        person = await uow.directory.person(change.tenant_id, change.watcher)
        if person is None or not person.active:
            raise UnknownPerson(change.watcher)
        await uow.watchers.add(change.tenant_id, change.ticket_id, change.watcher, utcnow())
        await uow.commit()


async def remove_watcher(change: WatchChange, uow: NotifyUnitOfWork) -> None:
    """Stop a user watching the ticket."""
    _check(change)
    async with uow:
        if not await uow.watchers.remove(change.tenant_id, change.ticket_id, change.watcher):
            raise NotWatching(change.watcher)
        await uow.commit()


async def watchers(
    tenant_id: str, ticket_id: str, uow: NotifyUnitOfWork
) -> list[tuple[Person, str]]:
    """The ticket's watchers that notify knows, with since when (ISO) they watch."""
    async with uow:
        watching = await uow.watchers.of_ticket(tenant_id, ticket_id)
        known = {
            person.user_id: person
            for person in await uow.directory.people(
                tenant_id, [user_id for user_id, _ in watching]
            )
        }
    return [(known[user_id], since.isoformat()) for user_id, since in watching if user_id in known]

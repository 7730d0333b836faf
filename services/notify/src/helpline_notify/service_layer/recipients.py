"""Who the roles of a notification stand for on one ticket, and whose name a reply carries."""

from collections.abc import Collection

from helpline_notify.domain.model import TicketView
from helpline_notify.domain.people import Person, RolePeople, leads_of, support_sender
from helpline_notify.domain.planning import EmailTarget, human_reply
from helpline_notify.domain.subscriptions import ROLES, Role
from helpline_notify.service_layer.unit_of_work import NotifyUnitOfWork
from helpline_shared.events import Event


async def role_people(
    uow: NotifyUnitOfWork, ticket: TicketView | None, roles: Collection[Role] = ROLES
) -> RolePeople:
    """The active people ``team_lead``, ``manager`` and ``watchers`` stand for on the ticket,
    looked up only for the ``roles`` mailed (most events mail none of them: no statement)."""
    if ticket is None:
        return RolePeople()
    leads: tuple[Person, ...] = ()
    if (
        "team_lead" in roles
        and ticket.team
        and not await uow.directory.team_deleted(ticket.tenant_id, ticket.team)
    ):
        leads = leads_of(tuple(await uow.directory.leads(ticket.tenant_id)), ticket.team)
    watchers: tuple[Person, ...] = ()
    if "watchers" in roles:
        watching = [
            user_id
            for user_id, _ in await uow.watchers.of_ticket(ticket.tenant_id, ticket.ticket_id)
        ]
        watchers = tuple(
            person
            for person in await uow.directory.people(ticket.tenant_id, watching)
            if person.active
        )
    manager = await account_manager(uow, ticket) if "manager" in roles else None
    return RolePeople(
        team_leads=leads,
        watchers=watchers,
        managers=(manager,) if manager and manager.active else (),
    )


async def account_manager(uow: NotifyUnitOfWork, ticket: TicketView) -> Person | None:
    """The person behind the account manager routing names for the ticket's organisation: the
    user of that id, else the user with the address routing published for that agent, else that
    address alone (an agent identity has not announced)."""
    agent_id = ticket.account_manager_id
    if not agent_id:
        return None
    person = await uow.directory.person(ticket.tenant_id, agent_id)
    if person is not None:
        return person
    agent = await uow.directory.agent(ticket.tenant_id, agent_id)
    if agent is None:
        return None
    name, email = agent
    return await uow.directory.by_email(ticket.tenant_id, email) or Person(
        tenant_id=ticket.tenant_id, user_id=agent_id, name=name, email=email, role="agent"
    )


async def without_author(
    uow: NotifyUnitOfWork, event: Event, targets: list[EmailTarget]
) -> list[EmailTarget]:
    """The targets but the person who caused the event: nobody is told of their own doing."""
    if event.actor is None or event.actor.type != "user" or not event.actor.id:
        return targets
    author = await uow.directory.person(event.tenant_id, event.actor.id)
    address = author.email.lower() if author else None
    return [
        target
        for target in targets
        if target.user_id != event.actor.id
        and not (address and target.address and target.address.lower() == address)
    ]


async def reply_sender(
    uow: NotifyUnitOfWork, event: Event, ticket: TicketView | None, fallback_address: str
) -> str | None:
    """The ``From`` of a person's public reply (None for automatic mail): the ticket's mailbox,
    else ``fallback_address`` (a ticket that came in through the API)."""
    if not human_reply(event) or event.actor is None:
        return None
    author = await uow.directory.person(event.tenant_id, event.actor.id or "")
    support_name = await uow.directory.tenant_name(event.tenant_id)
    support_address = ticket.mailbox if ticket and ticket.mailbox else fallback_address
    return support_sender(author.name if author else "Support", support_name, support_address)

"""Requesters, organisations and mailboxes: the directory tickets are opened against."""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from helpline_intake.domain.directory import Mailbox, Organization, RequesterRecord
from helpline_intake.domain.errors import AlreadyExists, NotFound
from helpline_intake.domain.model import Origin, new_id
from helpline_intake.service_layer.domains import require_verified
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared.events import Priority, Requester, TicketType
from helpline_shared.runtime.db import utcnow


async def origin_for(
    uow: IntakeUnitOfWork,
    tenant_id: str,
    requester: Requester,
    *,
    mailbox: str | None = None,
    language: str | None = None,
) -> Origin:
    """The organisation and plan of a requester (created on first contact, like Zendesk)."""
    (origin,) = await origins_for(uow, [(tenant_id, requester)], mailbox=mailbox, language=language)
    return origin


async def origins_for(
    uow: IntakeUnitOfWork,
    wanted: Sequence[tuple[str, Requester]],
    *,
    mailbox: str | None = None,
    language: str | None = None,
) -> list[Origin]:
    """``origin_for`` each (tenant, requester), in that order, in one statement."""
    found = await uow.directory.requester_origins(
        [
            (tenant_id, str(requester.email), requester.name, language)
            for tenant_id, requester in wanted
        ]
    )
    return [
        Origin(
            organization_id=organization_id,
            plan=plan,
            language=stored_language or language,
            mailbox=mailbox,
        )
        for organization_id, plan, stored_language in found
    ]


@dataclass(frozen=True)
class SaveOrganization:
    """Create (no id) or change an organisation."""

    tenant_id: str
    name: str
    plan: str
    domains: list[str]
    organization_id: str | None = None


async def save_organization(command: SaveOrganization, uow: IntakeUnitOfWork) -> Organization:
    """Create or update the organisation."""
    async with uow:
        domains = sorted({domain.lower() for domain in command.domains})
        if command.organization_id is None:
            organization = Organization(
                new_id(), command.tenant_id, command.name, command.plan, domains, utcnow()
            )
            await uow.directory.add_organization(organization)
        else:
            found = await uow.directory.organization(command.tenant_id, command.organization_id)
            if found is None:
                raise NotFound("organization")
            organization = replace(found, name=command.name, plan=command.plan, domains=domains)
            await uow.directory.save_organization(organization)
        await uow.commit()
        return organization


@dataclass(frozen=True)
class SaveRequester:
    """Create (no id) or change a requester."""

    tenant_id: str
    email: str
    name: str | None
    organization_id: str | None
    language: str | None
    requester_id: str | None = None


async def save_requester(command: SaveRequester, uow: IntakeUnitOfWork) -> RequesterRecord:
    """Create or update the requester; its organisation must be the tenant's."""
    async with uow:
        if (
            command.organization_id
            and await uow.directory.organization(command.tenant_id, command.organization_id) is None
        ):
            raise NotFound("organization")
        email = command.email.lower()
        same_email = await uow.directory.requester_by_email(command.tenant_id, email)
        if command.requester_id is None:
            if same_email is not None:
                raise AlreadyExists(f"a requester with email {email} exists")
            record = RequesterRecord(
                new_id(),
                command.tenant_id,
                email,
                command.name,
                command.organization_id,
                command.language,
                utcnow(),
            )
            await uow.directory.add_requester(record)
        else:
            found = await uow.directory.requester(command.tenant_id, command.requester_id)
            if found is None:
                raise NotFound("requester")
            if same_email is not None and same_email.id != found.id:
                raise AlreadyExists(f"a requester with email {email} exists")
            record = replace(
                found,
                email=email,
                name=command.name,
                organization_id=command.organization_id,
                language=command.language,
            )
            await uow.directory.save_requester(record)
        await uow.commit()
        return record


@dataclass(frozen=True)
class AddMailbox:
    """Configure a support address of the tenant."""

    tenant_id: str
    address: str
    aliases: list[str]
    priority: Priority
    type: TicketType
    tags: list[str]
    imap: dict[str, Any] | None


async def add_mailbox(command: AddMailbox, uow: IntakeUnitOfWork) -> Mailbox:
    """Create the mailbox in the tenant's verified domains; ``AlreadyExists`` if it is taken."""
    async with uow:
        await require_verified(
            uow,
            command.tenant_id,
            [("address", command.address)]
            + [(f"aliases.{index}", alias) for index, alias in enumerate(command.aliases)],
        )
        mailbox = Mailbox(
            id=new_id(),
            tenant_id=command.tenant_id,
            address=command.address.lower(),
            aliases=[alias.lower() for alias in command.aliases],
            priority=command.priority,
            type=command.type,
            tags=sorted(set(command.tags)),
            created_at=utcnow(),
            imap=command.imap,
        )
        await uow.mail.add_mailbox(mailbox)
        await uow.commit()
        return mailbox


async def remove_mailbox(tenant_id: str, mailbox_id: str, uow: IntakeUnitOfWork) -> None:
    """Delete the mailbox (stored mail and tickets stay)."""
    async with uow:
        if not await uow.mail.remove_mailbox(tenant_id, mailbox_id):
            raise NotFound("mailbox")
        await uow.commit()

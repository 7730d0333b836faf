"""Mail domains: added pending, verified by a published record, then open to mailboxes."""

import secrets
from collections.abc import Callable

from helpline_intake.domain.domains import PENDING, VERIFIED, Domain, domain_of, normalize_domain
from helpline_intake.domain.errors import (
    AlreadyExists,
    DomainClaimed,
    DomainNotVerified,
    NotFound,
    OwnershipNotProven,
)
from helpline_intake.domain.model import new_id
from helpline_intake.domain.ports import DomainOwnership
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared.runtime.db import utcnow

UnitOfWorkFactory = Callable[[], IntakeUnitOfWork]


class DomainInUse(AlreadyExists):
    """Mailboxes of the tenant still have addresses in the domain."""


async def add_domain(tenant_id: str, name: str, uow: IntakeUnitOfWork) -> Domain:
    """Add a pending domain with a fresh verification token."""
    name = normalize_domain(name)
    async with uow:
        if await uow.domains.named(tenant_id, name) is not None:
            raise AlreadyExists("this tenant has added the domain already")
        if await uow.domains.verified_elsewhere(tenant_id, name):
            raise DomainClaimed("the domain is verified by another tenant")
        domain = Domain(
            id=new_id(),
            tenant_id=tenant_id,
            name=name,
            status=PENDING,
            token=secrets.token_urlsafe(24),
            created_at=utcnow(),
        )
        await uow.domains.add(domain)
        await uow.commit()
        return domain


async def verify_domain(
    tenant_id: str, domain_id: str, ownership: DomainOwnership, unit_of_work: UnitOfWorkFactory
) -> Domain:
    """Verify a pending domain once its record is published; first verified tenant wins."""
    async with unit_of_work().read_only() as uow:
        domain = await uow.domains.get(tenant_id, domain_id)
    if domain is None:
        raise NotFound("domain")
    if domain.status == VERIFIED:
        return domain
    # The lookup runs outside any transaction: DNS may take seconds.
    if not await ownership.proven(domain.record_name, domain.record_value):
        raise OwnershipNotProven(
            f"no TXT record {domain.record_value!r} found at {domain.record_name}"
        )
    async with unit_of_work() as uow:
        if await uow.domains.verified_elsewhere(
            tenant_id, domain.name
        ) or not await uow.domains.mark_verified(domain.id, utcnow()):
            raise DomainClaimed("the domain is verified by another tenant")
        await uow.commit()
        verified = await uow.domains.get(tenant_id, domain_id)
    assert verified is not None
    return verified


async def remove_domain(tenant_id: str, domain_id: str, uow: IntakeUnitOfWork) -> None:
    """Delete a domain no mailbox of the tenant uses."""
    async with uow:
        domain = await uow.domains.get(tenant_id, domain_id)
        if domain is None:
            raise NotFound("domain")
        for mailbox in await uow.mail.mailboxes(tenant_id):
            if any(domain_of(address) == domain.name for address in mailbox.addresses):
                raise DomainInUse("mailboxes of this tenant have addresses in the domain")
        await uow.domains.remove(tenant_id, domain_id)
        await uow.commit()


async def require_verified(
    uow: IntakeUnitOfWork, tenant_id: str, addresses: list[tuple[str, str]]
) -> None:
    """``DomainNotVerified`` naming the first field whose address is outside verified domains."""
    names = sorted({domain_of(address) for _, address in addresses})
    verified = await uow.domains.verified_names(tenant_id, names)
    for field, address in addresses:
        if domain_of(address) not in verified:
            raise DomainNotVerified(field, domain_of(address))

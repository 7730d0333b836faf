"""Tenants' mail domains and which of them are verified."""

from dataclasses import asdict
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_intake.adapters.orm import domains
from helpline_intake.domain.domains import PENDING, VERIFIED, Domain


class DomainRepository:
    """Reads and writes the domains table inside the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, domain: Domain) -> None:
        """Insert a domain."""
        await self._session.execute(insert(domains).values(**asdict(domain)))

    async def get(self, tenant_id: str, domain_id: str) -> Domain | None:
        """The tenant's domain with that id."""
        row = (
            await self._session.execute(
                select(domains).where(domains.c.id == domain_id, domains.c.tenant_id == tenant_id)
            )
        ).first()
        return Domain(**row._mapping) if row else None

    async def named(self, tenant_id: str, name: str) -> Domain | None:
        """The tenant's record of the domain ``name``."""
        row = (
            await self._session.execute(
                select(domains).where(domains.c.tenant_id == tenant_id, domains.c.name == name)
            )
        ).first()
        return Domain(**row._mapping) if row else None

    async def all(self, tenant_id: str) -> list[Domain]:
        """The tenant's domains by name."""
        rows = await self._session.execute(
            select(domains).where(domains.c.tenant_id == tenant_id).order_by(domains.c.name)
        )
        return [Domain(**row._mapping) for row in rows]

    async def verified_names(self, tenant_id: str, names: list[str]) -> set[str]:
        """Which of ``names`` the tenant has verified."""
        rows = await self._session.execute(
            select(domains.c.name).where(
                domains.c.tenant_id == tenant_id,
                domains.c.status == VERIFIED,
                domains.c.name.in_(names),
            )
        )
        return {str(row[0]) for row in rows}

    async def verified_elsewhere(self, tenant_id: str, name: str) -> bool:
        """True when another tenant holds ``name`` verified."""
        row = (
            await self._session.execute(
                select(domains.c.id).where(
                    domains.c.name == name,
                    domains.c.status == VERIFIED,
                    domains.c.tenant_id != tenant_id,
                )
            )
        ).first()
        return row is not None

    async def mark_verified(self, domain_id: str, now: datetime) -> bool:
        """Verify a pending domain; False when another tenant verified the name first."""
        try:
            async with self._session.begin_nested():
                result = await self._session.execute(
                    update(domains)
                    .where(domains.c.id == domain_id, domains.c.status == PENDING)
                    .values(status=VERIFIED, verified_at=now)
                )
        except IntegrityError:
            return False
        return bool(getattr(result, "rowcount", 0))

    async def remove(self, tenant_id: str, domain_id: str) -> bool:
        """Delete the tenant's domain; False if there is none."""
        result = await self._session.execute(
            delete(domains).where(domains.c.id == domain_id, domains.c.tenant_id == tenant_id)
        )
        return bool(getattr(result, "rowcount", 0))

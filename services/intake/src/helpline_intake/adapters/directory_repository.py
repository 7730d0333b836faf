"""Requesters and organisations, always scoped to one tenant."""

from collections.abc import Sequence
from dataclasses import asdict, fields
from typing import Any

from sqlalchemy import (
    bindparam,
    delete,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_intake.adapters.orm import organization_domains, organizations, requesters
from helpline_intake.domain.directory import Organization, RequesterRecord
from helpline_intake.domain.model import new_id
from helpline_shared.runtime.db import utcnow

_REQUESTER_COLUMNS = [f.name for f in fields(RequesterRecord) if f.name != "extra"]


def _requester(row: Any) -> RequesterRecord:
    return RequesterRecord(**{name: getattr(row, name) for name in _REQUESTER_COLUMNS})


class DirectoryRepository:
    """Reads and writes requesters and organisations."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_organization(self, organization: Organization) -> None:
        """Insert an organisation."""
        await self._session.execute(insert(organizations).values(**asdict(organization)))
        await self._claim_domains(organization)

    async def save_organization(self, organization: Organization) -> None:
        """Write back a changed organisation."""
        values = asdict(organization)
        await self._session.execute(
            update(organizations).where(organizations.c.id == values.pop("id")).values(values)
        )
        await self._session.execute(
            delete(organization_domains).where(
                organization_domains.c.tenant_id == organization.tenant_id,
                organization_domains.c.organization_id == organization.id,
            )
        )
        await self._claim_domains(organization)

    async def _claim_domains(self, organization: Organization) -> None:
        domains = sorted({domain.lower() for domain in organization.domains})
        if domains:
            await self._session.execute(
                insert(organization_domains),
                [
                    {
                        "tenant_id": organization.tenant_id,
                        "domain": domain,
                        "organization_id": organization.id,
                    }
                    for domain in domains
                ],
            )

    async def organization(self, tenant_id: str, organization_id: str) -> Organization | None:
        """The tenant's organisation with that id."""
        row = (
            await self._session.execute(
                select(organizations).where(
                    organizations.c.id == organization_id, organizations.c.tenant_id == tenant_id
                )
            )
        ).first()
        return Organization(**row._mapping) if row else None

    async def organizations(
        self, tenant_id: str, *, limit: int, after_id: str | None
    ) -> list[Organization]:
        """The tenant's organisations in id order, after ``after_id``."""
        query = select(organizations).where(organizations.c.tenant_id == tenant_id)
        if after_id:
            query = query.where(organizations.c.id > after_id)
        rows = await self._session.execute(query.order_by(organizations.c.id).limit(limit))
        return [Organization(**row._mapping) for row in rows]

    async def organization_for_domain(self, tenant_id: str, domain: str) -> Organization | None:
        """The tenant's organisation claiming an email domain, if any (the first by id)."""
        row = (
            await self._session.execute(
                select(organizations)
                .where(
                    organizations.c.tenant_id == tenant_id,
                    organizations.c.id == _claimed_by(tenant_id, domain.lower()),
                )
                .limit(1)
            )
        ).first()
        return Organization(**row._mapping) if row else None

    async def add_requester(self, requester: RequesterRecord) -> None:
        """Insert a requester."""
        values = {name: getattr(requester, name) for name in _REQUESTER_COLUMNS}
        await self._session.execute(insert(requesters).values(**values))

    async def requester_origins(
        self, wanted: Sequence[tuple[str, str, str | None, str | None]]
    ) -> list[tuple[str | None, str | None, str | None]]:
        """The organisation id, plan and stored language of the requester of each (tenant, email,
        name, language), in that order; an unknown address is stored first (with the
        organisation claiming its domain). One statement, new or known: an insert whose conflict
        updates nothing and returns the rows.

        Two first contacts from one address at the same moment both end with the same record
        (the second waits for the first, then meets its row); an address given twice is stored
        once (PostgreSQL refuses a statement that meets its own row), in one order for every
        writer.
        """
        now = utcnow()
        distinct: dict[tuple[str, str], dict[str, Any]] = {}
        for tenant_id, email, name, language in wanted:
            address = email.lower()
            distinct.setdefault(
                (tenant_id, address),
                {
                    "id": new_id(),
                    "tenant_id": tenant_id,
                    "email": address,
                    "name": name,
                    "language": language,
                    "created_at": now,
                    "claim_tenant": tenant_id,
                    "claim_domain": address.rsplit("@", 1)[-1],
                },
            )
        bind = self._session.bind
        dialect = bind.dialect.name if bind is not None else "sqlite"
        parameters = [distinct[key] for key in sorted(distinct)]
        rows = await self._session.execute(
            # One row alone is no executemany (SQLAlchemy's batching of RETURNING rows costs more)
            _STORE_UNLESS_KNOWN[dialect],
            parameters[0] if len(parameters) == 1 else parameters,
        )
        found = {
            (row.tenant_id, row.email): (row.org_id, row.org_plan, row.language) for row in rows
        }
        return [found[tenant_id, email.lower()] for tenant_id, email, _name, _lang in wanted]

    async def save_requester(self, requester: RequesterRecord) -> None:
        """Write back a changed requester."""
        values = {name: getattr(requester, name) for name in _REQUESTER_COLUMNS if name != "id"}
        await self._session.execute(
            update(requesters).where(requesters.c.id == requester.id).values(values)
        )

    async def requester(self, tenant_id: str, requester_id: str) -> RequesterRecord | None:
        """The tenant's requester with that id."""
        row = (
            await self._session.execute(
                select(requesters).where(
                    requesters.c.id == requester_id, requesters.c.tenant_id == tenant_id
                )
            )
        ).first()
        return _requester(row) if row else None

    async def requester_by_email(self, tenant_id: str, email: str) -> RequesterRecord | None:
        """The tenant's requester with that address (compared lower-cased)."""
        row = (
            await self._session.execute(
                select(requesters).where(
                    requesters.c.email == email.lower(), requesters.c.tenant_id == tenant_id
                )
            )
        ).first()
        return _requester(row) if row else None

    async def requesters(
        self,
        tenant_id: str,
        *,
        limit: int,
        after_id: str | None,
        organization_id: str | None = None,
    ) -> list[RequesterRecord]:
        """The tenant's requesters in id order, after ``after_id``."""
        query = select(requesters).where(requesters.c.tenant_id == tenant_id)
        if after_id:
            query = query.where(requesters.c.id > after_id)
        if organization_id:
            query = query.where(requesters.c.organization_id == organization_id)
        rows = await self._session.execute(query.order_by(requesters.c.id).limit(limit))
        return [_requester(row) for row in rows]


def _claimed_by(tenant_id: Any, domain: Any) -> Any:
    """The id of the tenant's organisation claiming ``domain`` (the first by id), as a scalar
    subquery: found by the claims' primary key, not by reading organisations."""
    claims = organization_domains.c
    return (
        select(claims.organization_id)
        .where(claims.tenant_id == tenant_id, claims.domain == domain)
        .order_by(claims.organization_id)
        .limit(1)
        .scalar_subquery()
    )


def _store_unless_known(insert_into: Any) -> Any:
    """The requester's row, inserted unless its address is known, with its organisation's id
    and plan (and its tenant and address: which row is whose when several are stored at
    once). Built once per dialect: only its parameters change."""
    statement = insert_into(requesters).values(
        organization_id=_claimed_by(bindparam("claim_tenant"), bindparam("claim_domain"))
    )
    # Spelled out: SQLAlchemy writes RETURNING columns unqualified on SQLite, which inside
    # the subqueries would name the organisation's own columns.
    member_of = (organizations.c.id == literal_column("requesters.organization_id")) & (
        organizations.c.tenant_id == literal_column("requesters.tenant_id")
    )
    return statement.on_conflict_do_update(
        index_elements=["tenant_id", "email"], set_={"email": statement.excluded.email}
    ).returning(
        select(organizations.c.id).where(member_of).scalar_subquery().label("org_id"),
        select(organizations.c.plan).where(member_of).scalar_subquery().label("org_plan"),
        requesters.c.language,
        requesters.c.tenant_id,
        requesters.c.email,
    )


_STORE_UNLESS_KNOWN = {
    name: _store_unless_known(insert_into)
    for name, insert_into in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}

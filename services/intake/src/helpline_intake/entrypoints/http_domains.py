"""A tenant's mail domains over HTTP (permission mail.manage): add, verify, list, remove."""

from datetime import datetime

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, ConfigDict

from helpline_intake.adapters.orm import idempotent_requests
from helpline_intake.domain.domains import Domain
from helpline_intake.domain.errors import (
    AlreadyExists,
    DomainClaimed,
    NotFound,
    OwnershipNotProven,
)
from helpline_intake.domain.ports import DomainOwnership
from helpline_intake.entrypoints.http_directory import Domain as DomainName
from helpline_intake.service_layer import domains
from helpline_intake.service_layer.domains import UnitOfWorkFactory
from helpline_shared.runtime import idempotency
from helpline_shared.runtime.auth import Principal, require
from helpline_shared.runtime.problems import not_found


class DomainIn(BaseModel):
    """A mail domain the tenant wants its mailboxes in."""

    model_config = ConfigDict(extra="forbid")

    name: DomainName


class VerificationOut(BaseModel):
    """The DNS record that proves the tenant owns the domain."""

    type: str
    name: str
    value: str


class DomainOut(BaseModel):
    """A domain: pending until verified; mailboxes may use verified domains only."""

    id: str
    name: str
    status: str
    verification: VerificationOut
    created_at: datetime
    verified_at: datetime | None

    @classmethod
    def of(cls, domain: Domain) -> "DomainOut":
        """Present ``domain``."""
        return cls(
            id=domain.id,
            name=domain.name,
            status=domain.status,
            verification=VerificationOut(
                type="TXT", name=domain.record_name, value=domain.record_value
            ),
            created_at=domain.created_at,
            verified_at=domain.verified_at,
        )


def router(unit_of_work: UnitOfWorkFactory, ownership: DomainOwnership) -> APIRouter:
    """The ``/v1/domains`` routes."""
    api = APIRouter(prefix="/v1/domains", tags=["email"])
    admin = require("mail.manage")
    idempotent = idempotency.IdempotentCreates(unit_of_work, idempotent_requests)

    @api.post(
        "",
        status_code=201,
        response_model=DomainOut,
        responses={
            **idempotency.RESPONSES,
            409: {
                "description": "Added already, or verified by another tenant; or the "
                "Idempotency-Key was used with another body"
            },
        },
    )
    @idempotent
    async def add_domain(body: DomainIn, principal: Principal = admin) -> DomainOut:
        """Add a pending domain; publish its TXT record, then verify it."""
        try:
            domain = await domains.add_domain(principal.tenant_id, body.name, unit_of_work())
        except (AlreadyExists, DomainClaimed) as error:
            raise HTTPException(409, f"name: {error}") from error
        return DomainOut.of(domain)

    @api.get("", response_model=list[DomainOut])
    async def list_domains(principal: Principal = admin) -> list[DomainOut]:
        """The tenant's domains."""
        async with unit_of_work().read_only() as uow:
            found = await uow.domains.all(principal.tenant_id)
        return [DomainOut.of(item) for item in found]

    @api.get("/{domain_id}", response_model=DomainOut)
    async def get_domain(domain_id: str, principal: Principal = admin) -> DomainOut:
        """One domain and its verification record."""
        async with unit_of_work().read_only() as uow:
            found = await uow.domains.get(principal.tenant_id, domain_id)
        if found is None:
            raise not_found("domain")
        return DomainOut.of(found)

    @api.post(
        "/{domain_id}/verify",
        response_model=DomainOut,
        responses={409: {"description": "Record not found, or verified by another tenant"}},
    )
    async def verify_domain(domain_id: str, principal: Principal = admin) -> DomainOut:
        """Look the TXT record up; the domain is verified when it is there."""
        try:
            domain = await domains.verify_domain(
                principal.tenant_id, domain_id, ownership, unit_of_work
            )
        except NotFound as error:
            raise not_found("domain") from error
        except OwnershipNotProven as error:
            raise HTTPException(409, f"verification: {error}") from error
        except DomainClaimed as error:
            raise HTTPException(409, f"name: {error}") from error
        return DomainOut.of(domain)

    @api.delete("/{domain_id}", status_code=204, response_class=Response)
    async def remove_domain(domain_id: str, principal: Principal = admin) -> Response:
        """Remove a domain no mailbox uses any more."""
        try:
            await domains.remove_domain(principal.tenant_id, domain_id, unit_of_work())
        except NotFound as error:
            raise not_found("domain") from error
        except AlreadyExists as error:
            raise HTTPException(409, f"domain_id: {error}") from error
        return Response(status_code=204)

    return api

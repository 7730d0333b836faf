"""Requesters and organisations over HTTP."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from helpline_intake.adapters.orm import idempotent_requests
from helpline_intake.domain.directory import PLANS, Organization, RequesterRecord
from helpline_intake.domain.errors import AlreadyExists, NotFound
from helpline_intake.entrypoints.schemas import Address
from helpline_intake.service_layer import requesters as directory
from helpline_intake.service_layer.handlers import UnitOfWorkFactory
from helpline_shared.inputs import SafeName
from helpline_shared.runtime import idempotency
from helpline_shared.runtime.auth import Principal, require
from helpline_shared.runtime.problems import not_found

Plan = Annotated[str, Field(pattern="^(" + "|".join(PLANS) + ")$")]
Domain = Annotated[str, Field(min_length=3, max_length=253, pattern=r"^[A-Za-z0-9.-]+\.[A-Za-z]+$")]
Limit = Annotated[int, Query(ge=1, le=500)]
After = Annotated[str | None, Query(max_length=64)]


class OrganizationIn(BaseModel):
    """An organisation and its support plan."""

    model_config = ConfigDict(extra="forbid")

    name: SafeName
    plan: Plan = "basic"
    domains: list[Domain] = Field(default_factory=list, max_length=50)


class OrganizationOut(OrganizationIn):
    """An organisation as the API shows it."""

    id: str
    created_at: datetime

    @classmethod
    def of(cls, organization: Organization) -> "OrganizationOut":
        """Present ``organization``."""
        return cls(
            id=organization.id,
            name=organization.name,
            plan=organization.plan,
            domains=organization.domains,
            created_at=organization.created_at,
        )


class RequesterIn(BaseModel):
    """A customer."""

    model_config = ConfigDict(extra="forbid")

    email: Address
    name: SafeName | None = None
    organization_id: str | None = Field(default=None, max_length=64)
    language: str | None = Field(default=None, max_length=16, pattern=r"^[A-Za-z]{2,3}(-\w+)*$")


class RequesterOut(RequesterIn):
    """A customer as the API shows them."""

    id: str
    created_at: datetime

    @classmethod
    def of(cls, record: RequesterRecord) -> "RequesterOut":
        """Present ``record``."""
        return cls(
            id=record.id,
            email=record.email,
            name=record.name,
            organization_id=record.organization_id,
            language=record.language,
            created_at=record.created_at,
        )


def _missing(error: NotFound) -> HTTPException:
    return not_found(str(error) or "record")


def router(unit_of_work: UnitOfWorkFactory) -> APIRouter:
    """The ``/v1/organizations`` and ``/v1/requesters`` routes."""
    idempotent = idempotency.IdempotentCreates(unit_of_work, idempotent_requests)
    api = APIRouter(prefix="/v1", tags=["directory"])
    reader = require("directory.read")
    writer = require("directory.write")

    async def save_org(
        principal: Principal, body: OrganizationIn, organization_id: str | None
    ) -> OrganizationOut:
        try:
            organization = await directory.save_organization(
                directory.SaveOrganization(
                    tenant_id=principal.tenant_id,
                    name=body.name,
                    plan=body.plan,
                    domains=body.domains,
                    organization_id=organization_id,
                ),
                unit_of_work(),
            )
        except NotFound as error:
            raise _missing(error) from error
        return OrganizationOut.of(organization)

    @api.post(
        "/organizations",
        status_code=201,
        responses=idempotency.RESPONSES,
        response_model=OrganizationOut,
    )
    @idempotent
    async def create_organization(
        body: OrganizationIn, principal: Principal = writer
    ) -> OrganizationOut:
        """Create an organisation with a support plan."""
        return await save_org(principal, body, None)

    @api.put("/organizations/{organization_id}", response_model=OrganizationOut)
    async def replace_organization(
        organization_id: str, body: OrganizationIn, principal: Principal = writer
    ) -> OrganizationOut:
        """Change an organisation (its plan applies to tickets opened from now on)."""
        return await save_org(principal, body, organization_id)

    @api.get("/organizations/{organization_id}", response_model=OrganizationOut)
    async def get_organization(
        organization_id: str, principal: Principal = reader
    ) -> OrganizationOut:
        """One organisation."""
        async with unit_of_work().read_only() as uow:
            found = await uow.directory.organization(principal.tenant_id, organization_id)
        if found is None:
            raise not_found("organization")
        return OrganizationOut.of(found)

    @api.get("/organizations", response_model=list[OrganizationOut])
    async def list_organizations(
        principal: Principal = reader, limit: Limit = 100, after: After = None
    ) -> list[OrganizationOut]:
        """The tenant's organisations in id order (page with ``after`` = the last id)."""
        async with unit_of_work().read_only() as uow:
            found = await uow.directory.organizations(
                principal.tenant_id, limit=limit, after_id=after
            )
        return [OrganizationOut.of(item) for item in found]

    async def save_requester(
        principal: Principal, body: RequesterIn, requester_id: str | None
    ) -> RequesterOut:
        try:
            record = await directory.save_requester(
                directory.SaveRequester(
                    tenant_id=principal.tenant_id,
                    email=str(body.email),
                    name=body.name,
                    organization_id=body.organization_id,
                    language=body.language,
                    requester_id=requester_id,
                ),
                unit_of_work(),
            )
        except NotFound as error:
            raise _missing(error) from error
        except AlreadyExists as error:
            raise HTTPException(409, f"email: {error}") from error
        return RequesterOut.of(record)

    @api.post(
        "/requesters", status_code=201, responses=idempotency.RESPONSES, response_model=RequesterOut
    )
    @idempotent
    async def create_requester(body: RequesterIn, principal: Principal = writer) -> RequesterOut:
        """Create a requester, optionally in an organisation."""
        return await save_requester(principal, body, None)

    @api.put("/requesters/{requester_id}", response_model=RequesterOut)
    async def replace_requester(
        requester_id: str, body: RequesterIn, principal: Principal = writer
    ) -> RequesterOut:
        """Change a requester."""
        return await save_requester(principal, body, requester_id)

    @api.get("/requesters/{requester_id}", response_model=RequesterOut)
    async def get_requester(requester_id: str, principal: Principal = reader) -> RequesterOut:
        """One requester."""
        async with unit_of_work().read_only() as uow:
            found = await uow.directory.requester(principal.tenant_id, requester_id)
        if found is None:
            raise not_found("requester")
        return RequesterOut.of(found)

    @api.get("/requesters", response_model=list[RequesterOut])
    async def list_requesters(
        principal: Principal = reader,
        limit: Limit = 100,
        after: After = None,
        organization_id: Annotated[str | None, Query(max_length=64)] = None,
    ) -> list[RequesterOut]:
        """The tenant's requesters in id order (page with ``after`` = the last id)."""
        async with unit_of_work().read_only() as uow:
            found = await uow.directory.requesters(
                principal.tenant_id, limit=limit, after_id=after, organization_id=organization_id
            )
        return [RequesterOut.of(item) for item in found]

    return api

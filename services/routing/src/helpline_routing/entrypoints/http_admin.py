"""Routing configuration API: versioned rules, tenant settings, account managers."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from helpline_routing.domain.errors import AgentNotFound
from helpline_routing.entrypoints.schemas import (
    AccountManagerIn,
    RuleSetIn,
    RuleSetOut,
    SettingsIn,
)
from helpline_routing.service_layer import admin
from helpline_routing.service_layer.unit_of_work import UnitOfWorkFactory
from helpline_shared.runtime.auth import Principal, require
from helpline_shared.runtime.problems import not_found

MAX_VERSION = 2**31 - 1
"""Versions are 32-bit integers in the database: a larger one is a 422, not a failed query."""


def _rules_out(version: int, stored: dict[str, object] | None) -> RuleSetOut:
    return RuleSetOut(version=version, **RuleSetIn.model_validate(stored or {}).model_dump())


def router(unit_of_work: UnitOfWorkFactory) -> APIRouter:
    """The ``/v1/routing`` and ``/v1/organizations`` routes on ``unit_of_work``."""
    api = APIRouter(tags=["routing configuration"])
    reader = require("routing.read")
    administrator = require("routing.manage")

    @api.get("/v1/routing/rules", response_model=RuleSetOut)
    async def current_rules(principal: Principal = reader) -> RuleSetOut:
        """The tenant's current rules (version 0: the built-in default, tags are skills)."""
        rule_set, stored = await admin.rules(principal.tenant_id, unit_of_work().read_only())
        return _rules_out(rule_set.version, stored)

    @api.put("/v1/routing/rules", response_model=RuleSetOut)
    async def replace_rules(body: RuleSetIn, principal: Principal = administrator) -> RuleSetOut:
        """Store the ordered rules as a new version; new tickets are classified by it."""
        rule_set, stored = await admin.replace_rules(
            principal.tenant_id, body.model_dump(mode="json"), unit_of_work()
        )
        return _rules_out(rule_set.version, stored)

    @api.get("/v1/routing/rules/versions/{version}", response_model=RuleSetOut)
    async def rules_version(
        version: Annotated[int, Path(ge=0, le=MAX_VERSION)], principal: Principal = reader
    ) -> RuleSetOut:
        """An earlier version of the tenant's rules."""
        rule_set, stored = await admin.rules(
            principal.tenant_id, unit_of_work().read_only(), version
        )
        if stored is None and version != 0:
            raise not_found("rules version")
        return _rules_out(rule_set.version, stored)

    @api.get("/v1/routing/settings", response_model=SettingsIn)
    async def get_settings(principal: Principal = reader) -> SettingsIn:
        """The tenant's routing settings."""
        return SettingsIn.of(await admin.settings(principal.tenant_id, unit_of_work().read_only()))

    @api.put("/v1/routing/settings", response_model=SettingsIn)
    async def put_settings(body: SettingsIn, principal: Principal = administrator) -> SettingsIn:
        """Replace the tenant's routing settings."""
        return SettingsIn.of(
            await admin.save_settings(
                principal.tenant_id, body.model_dump(mode="json"), unit_of_work()
            )
        )

    @api.put("/v1/organizations/{organization_id}/account-manager", status_code=204)
    async def set_account_manager(
        organization_id: str, body: AccountManagerIn, principal: Principal = administrator
    ) -> None:
        """Set the organisation's dedicated account manager (preferred for its tickets)."""
        if len(organization_id) > 64:
            raise HTTPException(422, "organization_id is longer than 64 characters")
        try:
            await admin.set_account_manager(
                principal.tenant_id, organization_id, body.agent_id, unit_of_work()
            )
        except AgentNotFound as error:
            raise not_found("agent") from error

    return api

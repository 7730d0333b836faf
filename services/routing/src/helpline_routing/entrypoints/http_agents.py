"""Routing's agent API: parse, call one handler, map the result or the error."""

from fastapi import APIRouter, HTTPException, Query

from helpline_routing.adapters.orm import idempotent_requests
from helpline_routing.domain.errors import AgentNotFound, AgentUserTaken, NotYourAgent
from helpline_routing.entrypoints.access import caller_of, not_yours
from helpline_routing.entrypoints.schemas import AgentIn, AgentOut, AgentPatch, PresenceIn
from helpline_routing.service_layer import agents
from helpline_routing.service_layer.unit_of_work import UnitOfWorkFactory
from helpline_shared.runtime import idempotency
from helpline_shared.runtime.auth import Principal, event_actor, require
from helpline_shared.runtime.problems import not_found


def user_taken() -> HTTPException:
    """The 409 for a ``user_id`` another agent of the tenant already is."""
    return HTTPException(409, "user_id: another agent of the tenant is this user")


def router(unit_of_work: UnitOfWorkFactory) -> APIRouter:
    """The ``/v1/agents`` routes on ``unit_of_work``."""
    api = APIRouter(prefix="/v1/agents", tags=["agents"])
    idempotent = idempotency.IdempotentCreates(unit_of_work, idempotent_requests)
    reader = require("routing.read")
    manager = require("agents.manage")
    presence = require("agents.presence")

    @api.post("", status_code=201, response_model=AgentOut, responses=idempotency.RESPONSES)
    @idempotent
    async def create_agent(body: AgentIn, principal: Principal = manager) -> AgentOut:
        """Register an agent; ``user_id`` links it to the identity user it is."""
        try:
            agent = await agents.register_agent(
                agents.RegisterAgent(
                    tenant_id=principal.tenant_id,
                    name=body.name,
                    email=str(body.email),
                    skills=body.skills,
                    capacity=dict(body.capacity),
                    presence=body.presence,
                    languages=frozenset(body.languages),
                    teams=frozenset(body.teams),
                    auto_accept=body.auto_accept,
                    user_id=body.user_id,
                ),
                unit_of_work(),
            )
        except AgentUserTaken as error:
            raise user_taken() from error
        return AgentOut.of(agent)

    @api.get("", response_model=list[AgentOut])
    async def list_agents(
        principal: Principal = reader, user_id: str | None = Query(default=None, max_length=64)
    ) -> list[AgentOut]:
        """The tenant's agents; ``user_id`` finds the agent an identity user is."""
        async with unit_of_work().read_only() as uow:
            if user_id is None:
                found = await uow.agents.of_tenant(principal.tenant_id)
            else:
                agent = await uow.agents.by_user(principal.tenant_id, user_id)
                found = [agent] if agent else []
        return [AgentOut.of(agent) for agent in found]

    @api.get("/{agent_id}", response_model=AgentOut)
    async def get_agent(agent_id: str, principal: Principal = reader) -> AgentOut:
        """One agent, with its load."""
        async with unit_of_work().read_only() as uow:
            agent = await uow.agents.get(principal.tenant_id, agent_id)
        if agent is None:
            raise not_found("agent")
        return AgentOut.of(agent)

    @api.patch("/{agent_id}", response_model=AgentOut)
    async def update_agent(
        agent_id: str, body: AgentPatch, principal: Principal = manager
    ) -> AgentOut:
        """Change skills, capacity, languages or teams; new room takes waiting work."""
        try:
            agent = await agents.update_agent(
                agents.UpdateAgent(
                    tenant_id=principal.tenant_id,
                    agent_id=agent_id,
                    skills=body.skills,
                    capacity=dict(body.capacity) if body.capacity is not None else None,
                    languages=frozenset(body.languages) if body.languages is not None else None,
                    teams=frozenset(body.teams) if body.teams is not None else None,
                    auto_accept=body.auto_accept,
                    clear_auto_accept="auto_accept" in body.model_fields_set
                    and body.auto_accept is None,
                    user_id=body.user_id,
                ),
                unit_of_work(),
            )
        except AgentNotFound as error:
            raise not_found("agent") from error
        except AgentUserTaken as error:
            raise user_taken() from error
        return AgentOut.of(agent)

    @api.put("/{agent_id}/presence", response_model=AgentOut)
    async def set_presence(
        agent_id: str, body: PresenceIn, principal: Principal = presence
    ) -> AgentOut:
        """Set the presence; available takes waiting work, away/offline hands offers back."""
        try:
            agent = await agents.change_presence(
                agents.ChangePresence(
                    tenant_id=principal.tenant_id,
                    agent_id=agent_id,
                    presence=body.status,
                    caller=caller_of(principal),
                    actor=event_actor(principal),
                ),
                unit_of_work(),
            )
        except AgentNotFound as error:
            raise not_found("agent") from error
        except NotYourAgent as error:
            raise not_yours() from error
        return AgentOut.of(agent)

    @api.post("/{agent_id}/heartbeat", response_model=AgentOut)
    async def heartbeat(agent_id: str, principal: Principal = presence) -> AgentOut:
        """The agent is active: postpone the idle timeout (as presence: their own, or a lead's)."""
        try:
            agent = await agents.heartbeat(
                principal.tenant_id, agent_id, unit_of_work(), caller_of(principal)
            )
        except AgentNotFound as error:
            raise not_found("agent") from error
        except NotYourAgent as error:
            raise not_yours() from error
        return AgentOut.of(agent)

    return api

"""Routing's agent API: parse, call one handler, map the result or the error."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from helpline_routing.domain.errors import AgentNotFound
from helpline_routing.domain.model import Agent, Presence
from helpline_routing.service_layer import handlers
from helpline_routing.service_layer.handlers import UnitOfWorkFactory
from helpline_shared.events import EmailAddress
from helpline_shared.runtime.auth import Principal, require_scope
from helpline_shared.runtime.problems import not_found

SkillName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.:-]*$")]
SkillLevel = Annotated[int, Field(ge=1, le=10)]
ChannelName = Annotated[str, Field(pattern="^(email|api)$")]


class AgentIn(BaseModel):
    """A new agent."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    email: EmailAddress
    skills: dict[SkillName, SkillLevel] = Field(default_factory=dict, max_length=200)
    capacity: dict[ChannelName, Annotated[int, Field(ge=0, le=1000)]] = Field(
        default_factory=lambda: {"email": 5, "api": 5}
    )
    presence: Presence = "offline"


class PresenceIn(BaseModel):
    """An agent's new presence."""

    model_config = ConfigDict(extra="forbid")

    status: Presence


class AgentOut(BaseModel):
    """An agent as the API shows it."""

    id: str
    name: str
    email: str
    skills: dict[str, int]
    capacity: dict[str, int]
    load: dict[str, int]
    presence: Presence
    created_at: datetime
    last_assigned_at: datetime | None

    @classmethod
    def of(cls, agent: Agent) -> "AgentOut":
        """Present ``agent``."""
        return cls(
            id=agent.id, name=agent.name, email=agent.email, skills=agent.skills,
            capacity=agent.capacity, load={ch: agent.active.get(ch, 0) for ch in agent.capacity},
            presence=agent.presence, created_at=agent.created_at,
            last_assigned_at=agent.last_assigned_at,
        )


def router(unit_of_work: UnitOfWorkFactory) -> APIRouter:
    """The ``/v1/agents`` routes on ``unit_of_work``."""
    api = APIRouter(prefix="/v1/agents", tags=["agents"])
    reader = require_scope("tickets:read")
    admin = require_scope("admin")

    @api.post("", status_code=201, response_model=AgentOut)
    async def create_agent(body: AgentIn, principal: Principal = admin) -> AgentOut:
        """Register an agent."""
        agent = await handlers.register_agent(
            handlers.RegisterAgent(
                tenant_id=principal.tenant_id, name=body.name, email=str(body.email),
                skills=body.skills, capacity=body.capacity, presence=body.presence,
            ),
            unit_of_work(),
        )
        return AgentOut.of(agent)

    @api.get("", response_model=list[AgentOut])
    async def list_agents(principal: Principal = reader) -> list[AgentOut]:
        """The tenant's agents."""
        async with unit_of_work() as uow:
            agents = await uow.agents.of_tenant(principal.tenant_id)
        return [AgentOut.of(agent) for agent in agents]

    @api.get("/{agent_id}", response_model=AgentOut)
    async def get_agent(agent_id: str, principal: Principal = reader) -> AgentOut:
        """One agent, with its load."""
        async with unit_of_work() as uow:
            agent = await uow.agents.get(principal.tenant_id, agent_id)
        if agent is None:
            raise not_found("agent")
        return AgentOut.of(agent)

    @api.put("/{agent_id}/presence", response_model=AgentOut)
    async def set_presence(agent_id: str, body: PresenceIn, principal: Principal = admin
                           ) -> AgentOut:
        """Set the agent's presence; becoming available takes waiting work."""
        try:
            agent = await handlers.change_presence(
                handlers.ChangePresence(tenant_id=principal.tenant_id, agent_id=agent_id,
                                        presence=body.status),
                unit_of_work(),
            )
        except AgentNotFound as error:
            raise not_found("agent") from error
        return AgentOut.of(agent)

    return api

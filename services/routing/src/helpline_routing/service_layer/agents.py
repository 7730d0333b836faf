"""Agents: registration, profile, presence and activity. Presence changes hand offers back."""

import uuid
from dataclasses import dataclass, field

from helpline_routing.domain.errors import AgentNotFound, AgentUserTaken, NotYourAgent
from helpline_routing.domain.model import KEY, Agent, Caller, Presence
from helpline_routing.service_layer import decisions
from helpline_routing.service_layer.handlers import drain, on_ticket_event
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared.envelope import Envelope
from helpline_shared.events import Actor
from helpline_shared.runtime.db import utcnow

AWAY = frozenset({"away", "offline"})


@dataclass(frozen=True)
class RegisterAgent:
    """Register an agent with skills, languages, teams and capacity per channel."""

    tenant_id: str
    name: str
    email: str
    skills: dict[str, int]
    capacity: dict[str, int]
    presence: Presence
    languages: frozenset[str] = field(default_factory=frozenset)
    teams: frozenset[str] = field(default_factory=frozenset)
    auto_accept: bool | None = None
    user_id: str | None = None


@dataclass(frozen=True)
class UpdateAgent:
    """Change an agent's skills, languages, teams or capacity (None: unchanged)."""

    tenant_id: str
    agent_id: str
    skills: dict[str, int] | None = None
    capacity: dict[str, int] | None = None
    languages: frozenset[str] | None = None
    teams: frozenset[str] | None = None
    auto_accept: bool | None = None
    clear_auto_accept: bool = False
    """Let the tenant's acceptance mode apply to this agent again."""
    user_id: str | None = None
    """Link the agent to this identity user (None: unchanged)."""


@dataclass(frozen=True)
class ChangePresence:
    """Set an agent's presence."""

    tenant_id: str
    agent_id: str
    presence: Presence
    caller: Caller = KEY
    actor: Actor | None = None
    """Who set it, as the event tells (from the credential)."""


async def register_agent(command: RegisterAgent, uow: RoutingUnitOfWork) -> Agent:
    """Register the agent; an available one takes waiting work at once."""
    now = utcnow()
    async with uow:
        if (
            command.user_id is not None
            and await uow.agents.by_user(command.tenant_id, command.user_id) is not None
        ):
            raise AgentUserTaken(command.user_id)
        agent = Agent(
            id=str(uuid.uuid4()),
            tenant_id=command.tenant_id,
            name=command.name,
            email=command.email,
            skills=dict(command.skills),
            presence=command.presence,
            capacity=dict(command.capacity),
            active={},
            created_at=now,
            languages=command.languages,
            teams=command.teams,
            last_activity_at=now,
            auto_accept=command.auto_accept,
            user_id=command.user_id,
        )
        await uow.agents.add(agent)
        await decisions.watch_idle(uow, agent, await uow.config.settings(command.tenant_id))
        await uow.commit()
    if agent.presence == "available":
        await drain(uow, command.tenant_id)
    return await _reloaded(uow, command.tenant_id, agent.id)


async def update_agent(command: UpdateAgent, uow: RoutingUnitOfWork) -> Agent:
    """Change the agent's profile; more skills or capacity may take waiting work at once."""
    async with uow:
        agent = await uow.agents.get(command.tenant_id, command.agent_id)
        if agent is None:
            raise AgentNotFound(command.agent_id)
        if command.skills is not None:
            agent.skills = dict(command.skills)
        if command.capacity is not None:
            agent.capacity = dict(command.capacity)
        if command.languages is not None:
            agent.languages = command.languages
        if command.teams is not None:
            agent.teams = command.teams
        if command.auto_accept is not None or command.clear_auto_accept:
            agent.auto_accept = command.auto_accept
        if command.user_id is not None and command.user_id != agent.user_id:
            if await uow.agents.by_user(command.tenant_id, command.user_id) is not None:
                raise AgentUserTaken(command.user_id)
            agent.user_id = command.user_id
        await uow.agents.update_profile(agent)
        await uow.commit()
    await drain(uow, command.tenant_id)
    return await _reloaded(uow, command.tenant_id, command.agent_id)


async def change_presence(command: ChangePresence, uow: RoutingUnitOfWork) -> Agent:
    """Set the presence; away or offline hands back unanswered offers, available takes work."""
    now = utcnow()
    async with uow:
        agent = await _own_agent(uow, command.tenant_id, command.agent_id, command.caller)
        await uow.agents.set_presence(agent.tenant_id, agent.id, command.presence, now)
        if command.presence in AWAY:
            await decisions.hand_back_later(uow, agent.id, now)
        previous = agent.presence
        agent.presence, agent.last_activity_at = command.presence, now
        decisions.presence_changed(
            uow,
            agent,
            previous,
            "person" if command.caller.is_agent(agent) else "lead",
            now,
            command.actor,
        )
        await decisions.watch_idle(uow, agent, await uow.config.settings(command.tenant_id))
        await uow.commit()
    if command.presence == "available":
        await drain(uow, command.tenant_id)
    return await _reloaded(uow, command.tenant_id, command.agent_id)


async def heartbeat(
    tenant_id: str, agent_id: str, uow: RoutingUnitOfWork, caller: Caller = KEY
) -> Agent:
    """Record that the agent is active (postpones the idle timeout)."""
    now = utcnow()
    async with uow:
        agent = await _own_agent(uow, tenant_id, agent_id, caller)
        await uow.agents.touch(agent.id, now)
        agent.last_activity_at = now
        await decisions.watch_idle(uow, agent, await uow.config.settings(tenant_id))
        await uow.commit()
    return agent


async def on_user_deactivated(envelope: Envelope, uow: RoutingUnitOfWork) -> None:
    """A deactivated user's agent goes offline (unroutable), handing back open offers."""
    await on_ticket_event(envelope, uow)


async def _own_agent(
    uow: RoutingUnitOfWork, tenant_id: str, agent_id: str, caller: Caller
) -> Agent:
    """The agent, if ``caller`` may set their presence; else ``NotYourAgent``."""
    agent = await uow.agents.get(tenant_id, agent_id)
    if agent is None:
        raise AgentNotFound(agent_id)
    if not caller.may_set_presence_of(agent):
        raise NotYourAgent(agent_id)
    return agent


async def _reloaded(uow: RoutingUnitOfWork, tenant_id: str, agent_id: str) -> Agent:
    async with uow:
        agent = await uow.agents.get(tenant_id, agent_id)
    if agent is None:
        raise AgentNotFound(agent_id)
    return agent

"""Request and response bodies of routing's API (validation names the field on error)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from helpline_routing.adapters.tickets import HistoryEntry, Offer
from helpline_routing.domain.model import Agent, Presence
from helpline_routing.domain.tickets import RoutedTicket, TenantSettings
from helpline_routing.service_layer.offers import OfferStatus, status_of
from helpline_routing.service_layer.reports import AgentFigures, AgentsReport
from helpline_shared.events import Priority, TicketStatus, TicketType
from helpline_shared.inputs import SafeEmailAddress, SafeLine, SafeName

SkillName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.:-]*$")]
SkillLevel = Annotated[int, Field(ge=1, le=10)]
ChannelName = Literal["email", "api"]
Name = Annotated[SafeName, Field(max_length=64)]
CapacityChannel = Annotated[str, Field(pattern="^(email|api)$")]
Capacity = dict[CapacityChannel, Annotated[int, Field(ge=0, le=1000)]]
UserId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
        description="The identity user this agent is (unique per tenant)",
    ),
]
DEFAULT_LOAD_STATUSES: tuple[TicketStatus, ...] = ("new", "open", "on_hold")


class AgentIn(BaseModel):
    """A new agent."""

    model_config = ConfigDict(extra="forbid")

    name: SafeName
    email: SafeEmailAddress
    skills: dict[SkillName, SkillLevel] = Field(default_factory=dict, max_length=200)
    capacity: Capacity = Field(default_factory=lambda: {"email": 5, "api": 5})
    presence: Presence = "offline"
    languages: list[Name] = Field(default_factory=list, max_length=20)
    teams: list[Name] = Field(default_factory=list, max_length=20)
    auto_accept: bool | None = Field(
        default=None, description="Override the tenant's acceptance mode (null: the tenant's)"
    )
    user_id: UserId | None = None


class AgentPatch(BaseModel):
    """Changes to an agent's profile (absent fields stay as they are)."""

    model_config = ConfigDict(extra="forbid")

    skills: dict[SkillName, SkillLevel] | None = Field(default=None, max_length=200)
    capacity: Capacity | None = None
    languages: list[Name] | None = Field(default=None, max_length=20)
    teams: list[Name] | None = Field(default=None, max_length=20)
    auto_accept: bool | None = Field(
        default=None, description="Override the tenant's acceptance mode; null: the tenant's"
    )
    user_id: UserId | None = Field(
        default=None,
        description="Link the agent to the identity user it is (an agent "
        "registered before agents were users)",
    )


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
    languages: list[str]
    teams: list[str]
    created_at: datetime
    last_assigned_at: datetime | None
    last_activity_at: datetime | None
    expired_offers_in_row: int
    auto_accept: bool | None
    user_id: str | None = None

    @classmethod
    def of(cls, agent: Agent) -> "AgentOut":
        """Present ``agent``."""
        return cls(
            id=agent.id,
            name=agent.name,
            email=agent.email,
            skills=agent.skills,
            capacity=agent.capacity,
            load={ch: agent.active.get(ch, 0) for ch in agent.capacity},
            presence=agent.presence,
            languages=sorted(agent.languages),
            teams=sorted(agent.teams),
            created_at=agent.created_at,
            last_assigned_at=agent.last_assigned_at,
            last_activity_at=agent.last_activity_at,
            expired_offers_in_row=agent.expired_offers_in_row,
            auto_accept=agent.auto_accept,
            user_id=agent.user_id,
        )


class OptionalSkillIn(BaseModel):
    """An optional skill: wanted at ``level`` until relaxation drops it."""

    model_config = ConfigDict(extra="forbid")

    level: SkillLevel = 1
    priority: int = Field(ge=1, le=100)


class ConditionsIn(BaseModel):
    """When a rule applies: every listed condition must match one of its values."""

    model_config = ConfigDict(extra="forbid")

    keywords: list[Annotated[SafeLine, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=100
    )
    tags: list[Name] = Field(default_factory=list, max_length=100)
    channels: list[ChannelName] = Field(default_factory=list)
    types: list[TicketType] = Field(default_factory=list)
    plans: list[Name] = Field(default_factory=list, max_length=100)
    languages: list[Name] = Field(default_factory=list, max_length=100)
    mailboxes: list[SafeEmailAddress] = Field(default_factory=list, max_length=100)


class OutcomeIn(BaseModel):
    """What a matching rule decides."""

    model_config = ConfigDict(extra="forbid")

    required_skills: dict[SkillName, SkillLevel] = Field(default_factory=dict, max_length=50)
    optional_skills: dict[SkillName, OptionalSkillIn] = Field(default_factory=dict, max_length=50)
    priority: Priority | None = None
    team: Name | None = None
    tags_as_skills: bool = False


class RuleIn(BaseModel):
    """One rule."""

    model_config = ConfigDict(extra="forbid")

    id: Name
    conditions: ConditionsIn = Field(default_factory=ConditionsIn)
    outcome: OutcomeIn


class RuleSetIn(BaseModel):
    """The tenant's ordered rules (first match wins) and the default outcome."""

    model_config = ConfigDict(extra="forbid")

    rules: list[RuleIn] = Field(default_factory=list, max_length=500)
    default: OutcomeIn = Field(default_factory=lambda: OutcomeIn(tags_as_skills=True))


class RuleSetOut(RuleSetIn):
    """A stored version of the tenant's rules."""

    version: int


class SettingsIn(BaseModel):
    """A tenant's routing settings."""

    model_config = ConfigDict(extra="forbid")

    manual_acceptance: bool = False
    offer_timeout_seconds: int = Field(default=60, ge=1, le=86_400)
    expiries_before_away: int = Field(default=3, ge=1, le=100)
    relaxation_waits_seconds: list[Annotated[int, Field(ge=0, le=604_800)]] = Field(
        default_factory=lambda: [60], min_length=1, max_length=20
    )
    fallback_team: Name | None = None
    load_statuses: list[TicketStatus] = Field(default_factory=lambda: list(DEFAULT_LOAD_STATUSES))
    affinity_window_seconds: int = Field(default=72 * 3600, ge=0, le=366 * 86_400)
    idle_timeout_seconds: int = Field(
        default=1800, ge=0, le=7 * 86_400, description="0: agents are never set away when idle"
    )

    @classmethod
    def of(cls, settings: TenantSettings) -> "SettingsIn":
        """Present ``settings``."""
        values: dict[str, Any] = dict(settings.__dict__)
        values["relaxation_waits_seconds"] = list(settings.relaxation_waits_seconds)
        values["load_statuses"] = sorted(settings.load_statuses)
        return cls(**values)


class AccountManagerIn(BaseModel):
    """The organisation's dedicated account manager (null to clear)."""

    model_config = ConfigDict(extra="forbid")

    agent_id: Annotated[SafeLine, Field(min_length=1, max_length=64)] | None


class AssignmentIn(BaseModel):
    """A manual assignment."""

    model_config = ConfigDict(extra="forbid")

    agent_id: Annotated[SafeLine, Field(min_length=1, max_length=64)]
    exceed_capacity: bool = False


class DeclineIn(BaseModel):
    """Why an offer is declined."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[SafeLine, Field(max_length=500)] = "declined by the agent"


class OfferOut(BaseModel):
    """An offer and its outcome."""

    id: str
    ticket_id: str
    agent_id: str
    state: str = Field(
        description="Routing's own state: offered, accepted, declined, "
        "handed_back, expired or withdrawn."
    )
    status: OfferStatus = Field(
        description="pending (unanswered), accepted, declined (also when "
        "handed back), expired or withdrawn."
    )
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None

    @classmethod
    def of(cls, offer: Offer) -> "OfferOut":
        """Present ``offer``."""
        return cls(
            id=offer.id,
            ticket_id=offer.ticket_id,
            agent_id=offer.agent_id,
            state=offer.state,
            status=status_of(offer),
            created_at=offer.created_at,
            expires_at=offer.expires_at,
            decided_at=offer.decided_at,
        )


class HistoryOut(BaseModel):
    """One step of a ticket's routing."""

    at: datetime
    kind: str
    summary: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, entry: HistoryEntry) -> "HistoryOut":
        """Present ``entry``."""
        return cls(at=entry.at, kind=entry.kind, summary=entry.summary, detail=entry.detail)


class TicketRoutingOut(BaseModel):
    """Where a ticket stands in routing, and every decision about it with its explanation."""

    ticket_id: str
    state: str
    agent_id: str | None
    offer_id: str | None
    priority: str
    queued_at: datetime
    queue_reason: str
    rule_id: str
    rule_version: int
    required_skills: dict[str, int]
    optional_skills: dict[str, int]
    relaxed_skills: list[str]
    teams: list[str]
    excluded_agents: list[str]
    history: list[HistoryOut]

    @classmethod
    def of(cls, ticket: RoutedTicket, history: list[HistoryEntry]) -> "TicketRoutingOut":
        """Present ``ticket`` and its history."""
        return cls(
            ticket_id=ticket.ticket_id,
            state=ticket.state,
            agent_id=ticket.agent_id,
            offer_id=ticket.offer_id,
            priority=ticket.priority,
            queued_at=ticket.queued_at,
            queue_reason=ticket.queue_reason,
            rule_id=ticket.rule_id,
            rule_version=ticket.rule_version,
            required_skills=ticket.required_skills,
            optional_skills={
                skill: wanted.priority for skill, wanted in ticket.optional_skills.items()
            },
            relaxed_skills=list(ticket.relaxed_skills),
            teams=sorted(ticket.teams()),
            excluded_agents=list(ticket.excluded_agents),
            history=[HistoryOut.of(entry) for entry in history],
        )


class AgentFiguresOut(BaseModel):
    """One agent in the agents report."""

    agent_id: str
    user_id: str | None = Field(description="The identity user the agent is, if any.")
    name: str
    teams: list[str]
    presence: Presence
    load: int = Field(description="Open tickets assigned to the agent (not solved or closed).")
    capacity: int = Field(description="The agent's capacity, summed over the channels.")
    last_seen: datetime | None = Field(
        description="The agent's last activity (presence, heartbeat, answer, message)."
    )

    @classmethod
    def of(cls, figures: AgentFigures) -> "AgentFiguresOut":
        """Present ``figures``."""
        agent = figures.agent
        return cls(
            agent_id=agent.id,
            user_id=agent.user_id,
            name=agent.name,
            teams=sorted(agent.teams),
            presence=agent.presence,
            load=figures.load,
            capacity=sum(agent.capacity.values()),
            last_seen=agent.last_activity_at,
        )


class AgentsReportOut(BaseModel):
    """The tenant's agents with presence, load and capacity, and counts by presence."""

    generated_at: datetime
    agents: list[AgentFiguresOut]
    by_presence: dict[Presence, int] = Field(
        description="How many agents are available, busy, away and offline."
    )

    @classmethod
    def of(cls, report: AgentsReport) -> "AgentsReportOut":
        """Present ``report``."""
        return cls(
            generated_at=report.generated_at,
            agents=[AgentFiguresOut.of(figures) for figures in report.agents],
            by_presence=report.by_presence,
        )

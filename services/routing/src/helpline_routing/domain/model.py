"""Agents and what a ticket asks of them, as plain data and pure functions.

Tie policy (documented, and tested): among agents who are available, have every required skill at
or above its minimum level, belong to an allowed team, speak the ticket's language and have
capacity left on the ticket's channel, the winner is
0. a preferred agent (affinity: the organisation's account manager, or the previous assignee of a
   reopened ticket within the tenant's window), in the order given, if one is eligible; otherwise
1. the agent with the highest total level over the required skills, then
2. the lowest load on the channel (active / capacity), then
3. the longest idle time (oldest last assignment; never assigned counts as longest), then
4. the earliest registration, then the smallest id, so the order is total and repeatable.

An agent with no languages listed is taken to speak any language.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Presence = Literal["available", "busy", "away", "offline"]
PRIORITY_ORDER = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
CHANNELS = ("email", "api")

RankKey = tuple[int, float, float, datetime, str]
TieKey = tuple[float, float, datetime, str]


@dataclass(frozen=True)
class RoutingRequest:
    """What a ticket needs from an agent right now (after rules, relaxation and escalation)."""

    required_skills: Mapping[str, int]
    channel: str
    teams: frozenset[str] = frozenset()
    """Allowed teams; empty means any team."""
    language: str | None = None
    preferred: tuple[str, ...] = ()
    """Agent ids preferred by affinity, best first."""
    excluded: frozenset[str] = frozenset()
    """Agents who declined this ticket or let its offer expire."""


@dataclass
class Agent:
    """A person who works tickets, with skills, presence and capacity per channel."""

    id: str
    tenant_id: str
    name: str
    email: str
    skills: dict[str, int]
    presence: Presence
    capacity: dict[str, int]
    active: dict[str, int]
    created_at: datetime
    last_assigned_at: datetime | None = None
    languages: frozenset[str] = field(default_factory=frozenset)
    teams: frozenset[str] = field(default_factory=frozenset)
    last_activity_at: datetime | None = None
    expired_offers_in_row: int = 0
    auto_accept: bool | None = None
    """Overrides the tenant's acceptance mode for this agent (None: the tenant decides)."""
    user_id: str | None = None
    """The identity user this agent is (unique per tenant); None for an agent of no account."""

    def accepts_automatically(self, manual_acceptance: bool) -> bool:
        """Whether a decision for this agent assigns at once, given the tenant's mode."""
        return not manual_acceptance if self.auto_accept is None else self.auto_accept

    def load(self, channel: str) -> float:
        """Share of the channel's capacity in use (1.0 when the channel has none)."""
        capacity = self.capacity.get(channel, 0)
        return self.active.get(channel, 0) / capacity if capacity else 1.0

    def has_room(self, channel: str) -> bool:
        """Whether a unit of capacity is left on ``channel``."""
        return self.active.get(channel, 0) < self.capacity.get(channel, 0)

    def speaks(self, language: str | None) -> bool:
        """Whether the agent can answer in ``language`` (no languages listed: any)."""
        return language is None or not self.languages or language in self.languages

    def eligible(self, request: RoutingRequest) -> bool:
        """Whether the agent can take the work (the fast check; ``why_not`` explains it)."""
        if self.presence != "available" or self.id in request.excluded:
            return False
        if request.teams and not self.teams & request.teams:
            return False
        if not self.speaks(request.language):
            return False
        skills = self.skills
        for skill, minimum in request.required_skills.items():
            if skills.get(skill, 0) < minimum:
                return False
        return self.has_room(request.channel)

    def why_not(self, request: RoutingRequest) -> str | None:
        """Why this agent cannot take the work, or None when eligible."""
        if self.id in request.excluded:
            return "declined this ticket or let its offer expire"
        if self.presence != "available":
            return f"presence is {self.presence}"
        if request.teams and not self.teams & request.teams:
            return "not in team " + " or ".join(sorted(request.teams))
        if not self.speaks(request.language):
            return f"does not speak {request.language}"
        for skill, minimum in sorted(request.required_skills.items()):
            level = self.skills.get(skill)
            if level is None:
                return f"lacks skill {skill}"
            if level < minimum:
                return f"skill {skill} at level {level}, needs {minimum}"
        if not self.has_room(request.channel):
            return f"no capacity left on {request.channel}"
        return None

    def skill_score(self, required_skills: Mapping[str, int]) -> int:
        """Total level over the required skills."""
        skills = self.skills
        return sum(skills.get(skill, 0) for skill in required_skills)

    def rank_key(self, request: RoutingRequest) -> RankKey:
        """Sort key of the tie policy (smaller is better), preference aside."""
        return (-self.skill_score(request.required_skills), *self.tie_key(request.channel))

    def tie_key(self, channel: str) -> TieKey:
        """The tie policy's key after the skill score: load, idle time, registration, id."""
        last = self.last_assigned_at
        capacity = self.capacity.get(channel, 0)
        return (
            self.active.get(channel, 0) / capacity if capacity else 1.0,
            last.timestamp() if last else float("-inf"),
            self.created_at,
            self.id,
        )

    def record_expired_offer(self, expiries_before_away: int) -> bool:
        """Count an offer the agent let expire; True when that sets the agent away."""
        self.expired_offers_in_row += 1
        if self.presence == "available" and self.expired_offers_in_row >= expiries_before_away:
            self.presence = "away"
            return True
        return False

    def record_response(self, now: datetime) -> None:
        """The agent answered an offer: the run of expiries ends."""
        self.expired_offers_in_row = 0
        self.last_activity_at = now

    def idle_since(self) -> datetime:
        """When the agent last did something (registration if never)."""
        return self.last_activity_at or self.created_at


@dataclass(frozen=True)
class Caller:
    """Who acts on an agent, as routing's rules see a credential.

    ``role`` is a person's (``admin`` | ``lead`` | ``agent``); None is an API or service key,
    already allowed by its scope, which may act for any agent of its tenant.
    """

    role: str | None = None
    user_id: str | None = None
    teams: frozenset[str] = frozenset()

    def is_agent(self, agent: Agent) -> bool:
        """Whether the caller is the person this agent is."""
        return self.user_id is not None and agent.user_id == self.user_id

    def may_set_presence_of(self, agent: Agent) -> bool:
        """Agents their own presence; leads their own and their teams' agents'; admins any."""
        if self.role is None or self.role == "admin" or self.is_agent(agent):
            return True
        return self.role == "lead" and bool(self.teams & agent.teams)

    @property
    def sees_every_offer(self) -> bool:
        """Leads, admins and keys act on any agent's offers; an agent only on their own."""
        return self.role in (None, "admin", "lead")

    def may_answer_offers_of(self, agent: Agent) -> bool:
        """Agents answer only offers made to them; leads and admins any."""
        return self.sees_every_offer or self.is_agent(agent)


KEY = Caller()
"""An API or service key (or routing itself): allowed by scope, for any agent."""

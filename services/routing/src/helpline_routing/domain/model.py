"""Agents and the assignment decision, as plain data and pure functions.

Tie policy (documented, and tested): among agents who are available, have every required skill at
or above its minimum level and have capacity left on the ticket's channel, the winner has
1. the highest total level over the required skills, then
2. the lowest load on the channel (active / capacity), then
3. the longest idle time (oldest last assignment; never assigned counts as longest), then
4. the earliest registration, so the order is total and repeatable.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Presence = Literal["available", "busy", "away", "offline"]
PRIORITY_ORDER = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


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

    def load(self, channel: str) -> float:
        """Share of the channel's capacity in use (1.0 when the channel has none)."""
        capacity = self.capacity.get(channel, 0)
        return self.active.get(channel, 0) / capacity if capacity else 1.0

    def why_not(self, required_skills: dict[str, int], channel: str) -> str | None:
        """Why this agent cannot take the work, or None when eligible."""
        if self.presence != "available":
            return f"presence is {self.presence}"
        for skill, minimum in sorted(required_skills.items()):
            level = self.skills.get(skill)
            if level is None:
                return f"lacks skill {skill}"
            if level < minimum:
                return f"skill {skill} at level {level}, needs {minimum}"
        if self.active.get(channel, 0) >= self.capacity.get(channel, 0):
            return f"no capacity left on {channel}"
        return None

    def skill_score(self, required_skills: dict[str, int]) -> int:
        """Total level over the required skills."""
        return sum(self.skills.get(skill, 0) for skill in required_skills)


@dataclass(frozen=True)
class Candidate:
    """One agent considered for a ticket, and why it lost (or that it won)."""

    agent_id: str
    outcome: str


@dataclass(frozen=True)
class Decision:
    """Eligible agents best first, and every agent considered with its outcome."""

    ranked: list[Agent]
    considered: list[Candidate] = field(default_factory=list)

    def explain(self, winner: Agent, required_skills: dict[str, int], channel: str) -> str:
        """Why ``winner`` won, in one sentence."""
        skills = ", ".join(f"{skill}>={level}" for skill, level in sorted(required_skills.items()))
        return (
            f"best of {len(self.ranked)} eligible of {len(self.considered)} considered"
            f" (required: {skills or 'none'}): skill score {winner.skill_score(required_skills)},"
            f" load {winner.load(channel):.2f} on {channel}"
        )


def required_skills_for(tags: list[str] | tuple[str, ...]) -> dict[str, int]:
    """For now every tag is a required skill at level 1 (rules come with the routing issue)."""
    return {tag: 1 for tag in tags}


def decide(agents: list[Agent], required_skills: dict[str, int], channel: str) -> Decision:
    """Rank the eligible agents by the tie policy above."""
    eligible: list[Agent] = []
    considered: list[Candidate] = []
    for agent in agents:
        reason = agent.why_not(required_skills, channel)
        if reason is None:
            eligible.append(agent)
        considered.append(Candidate(agent.id, reason or "eligible"))
    eligible.sort(
        key=lambda agent: (
            -agent.skill_score(required_skills),
            agent.load(channel),
            agent.last_assigned_at.timestamp() if agent.last_assigned_at else float("-inf"),
            agent.created_at,
            agent.id,
        )
    )
    return Decision(ranked=eligible, considered=considered)

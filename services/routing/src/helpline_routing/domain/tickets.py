"""A ticket as routing sees it: what it needs, where it stands, and how its needs relax.

States: ``waiting`` (in the queue), ``offered`` (reserved for one agent until accepted, declined
or expired), ``assigned``, ``closed`` (solved or closed: it holds no capacity). A ticket keeps its
original ``queued_at`` through declines and expiries, so it never loses its place in the queue.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from helpline_routing.domain.model import PRIORITY_ORDER, RoutingRequest
from helpline_routing.domain.rules import Classification, OptionalSkill

TicketState = Literal["waiting", "offered", "assigned", "closed"]
FINAL_STATUSES = frozenset({"solved", "closed"})


@dataclass(frozen=True)
class TenantSettings:
    """A tenant's routing settings (all have defaults, so a new tenant just works)."""

    manual_acceptance: bool = False
    """Off: a decision assigns at once (auto-accept). On: the agent must accept an offer."""
    offer_timeout_seconds: int = 60
    expiries_before_away: int = 3
    relaxation_waits_seconds: tuple[int, ...] = (60,)
    """Wait before each relaxation step, from entering the queue; the last repeats."""
    fallback_team: str | None = None
    load_statuses: frozenset[str] = frozenset({"new", "open", "on_hold"})
    """Ticket statuses that count towards an agent's load (pending does not, by default)."""
    affinity_window_seconds: int = 72 * 3600
    idle_timeout_seconds: int = 1800
    """An available agent inactive this long is set away; 0 turns it off."""


@dataclass(frozen=True)
class Relaxation:
    """One relaxation step: drop an optional skill, or widen to the fallback team."""

    step: int
    dropped_skill: str | None = None
    widened_to_team: str | None = None


@dataclass
class RoutedTicket:
    """Routing's state of one ticket."""

    ticket_id: str
    tenant_id: str
    channel: str
    priority: str
    status: str
    rule_id: str
    rule_version: int
    required_skills: dict[str, int]
    optional_skills: dict[str, OptionalSkill]
    team: str | None
    queued_at: datetime
    language: str | None = None
    organization_id: str | None = None
    extra_teams: tuple[str, ...] = ()
    state: TicketState = "waiting"
    agent_id: str | None = None
    offer_id: str | None = None
    counts_load: bool = False
    relax_step: int = 0
    queue_entries: int = 0
    excluded_agents: tuple[str, ...] = ()
    previous_agent_id: str | None = None
    released_at: datetime | None = None
    queue_reason: str = ""
    relaxed_skills: tuple[str, ...] = field(default_factory=tuple)

    @property
    def priority_rank(self) -> int:
        """Queue order of the priority (urgent first)."""
        return PRIORITY_ORDER.get(self.priority, len(PRIORITY_ORDER))

    def teams(self) -> frozenset[str]:
        """Allowed teams (empty: any)."""
        return frozenset({self.team, *self.extra_teams}) if self.team else frozenset()

    def wanted_skills(self) -> dict[str, int]:
        """Required skills plus the optional ones still in force, with their levels."""
        skills = dict(self.required_skills)
        for skill, wanted in self.optional_skills.items():
            skills[skill] = max(skills.get(skill, 0), wanted.level)
        return skills

    def request(self, preferred: tuple[str, ...] = ()) -> RoutingRequest:
        """What the ticket asks of an agent now."""
        return RoutingRequest(
            required_skills=self.wanted_skills(),
            channel=self.channel,
            teams=self.teams(),
            language=self.language,
            preferred=preferred,
            excluded=frozenset(self.excluded_agents),
        )

    def reclassify(self, classification: Classification) -> None:
        """Take new needs (tags or type changed); relaxation starts over."""
        self.rule_id, self.rule_version = classification.rule_id, classification.rule_version
        self.required_skills = dict(classification.required_skills)
        self.optional_skills = dict(classification.optional_skills)
        self.team, self.priority = classification.team, classification.priority
        self.relax_step, self.relaxed_skills = 0, ()

    def next_relaxation(self, settings: TenantSettings) -> Relaxation | None:
        """The next step: drop the optional skill with the highest priority number, or widen."""
        if self.optional_skills:
            skill = max(
                self.optional_skills, key=lambda name: (self.optional_skills[name].priority, name)
            )
            return Relaxation(self.relax_step + 1, dropped_skill=skill)
        fallback = settings.fallback_team
        if self.team and fallback and fallback not in self.teams():
            return Relaxation(self.relax_step + 1, widened_to_team=fallback)
        return None

    def relaxation_due_at(self, settings: TenantSettings) -> datetime:
        """When the next relaxation step is due, counted from entering the queue."""
        waits = settings.relaxation_waits_seconds or (60,)
        total = sum(waits[min(index, len(waits) - 1)] for index in range(self.relax_step + 1))
        return self.queued_at + timedelta(seconds=total)

    def relax(self, relaxation: Relaxation) -> None:
        """Apply a relaxation step."""
        if relaxation.dropped_skill:
            self.optional_skills.pop(relaxation.dropped_skill, None)
            self.relaxed_skills = (*self.relaxed_skills, relaxation.dropped_skill)
        if relaxation.widened_to_team:
            self.extra_teams = (*self.extra_teams, relaxation.widened_to_team)
        self.relax_step = relaxation.step

    def widen(self, team: str) -> bool:
        """Allow ``team`` too (escalation); False when nothing changes."""
        if not self.team or team in self.teams():
            return False
        self.extra_teams = (*self.extra_teams, team)
        return True

    def raise_priority(self, priority: str) -> bool:
        """Raise (never lower) the priority; False when nothing changes."""
        if PRIORITY_ORDER.get(priority, 99) >= self.priority_rank:
            return False
        self.priority = priority
        return True

    def queue(self, reason: str) -> bool:
        """Put the ticket (back) in the queue; True when it was not waiting already."""
        entering = self.state != "waiting"
        self.state, self.agent_id, self.offer_id = "waiting", None, None
        self.queue_reason = reason
        if entering:
            self.queue_entries += 1
        return entering

    def offer(self, agent_id: str, offer_id: str) -> None:
        """Reserve the ticket for ``agent_id`` until the offer is answered."""
        self.state, self.agent_id, self.offer_id, self.counts_load = (
            "offered",
            agent_id,
            offer_id,
            True,
        )

    def assign(self, agent_id: str) -> None:
        """Give the ticket to ``agent_id`` (capacity was reserved when it was chosen)."""
        self.state, self.agent_id, self.counts_load = "assigned", agent_id, True
        self.offer_id = None
        self.queue_reason = ""

    def turn_down(self, agent_id: str) -> None:
        """The agent declined or let the offer expire: never offer it to them again.

        The ticket is routed again right after, which offers it to someone else or queues it.
        """
        if agent_id not in self.excluded_agents:
            self.excluded_agents = (*self.excluded_agents, agent_id)
        self.agent_id, self.offer_id, self.counts_load = None, None, False

    def hand_back(self) -> None:
        """The agent went offline or away before answering; routed again right after."""
        self.agent_id, self.offer_id, self.counts_load = None, None, False

    def close(self, now: datetime) -> None:
        """Solved or closed: remember who had it (for reopen affinity), hold nothing."""
        if self.agent_id and self.state == "assigned":
            self.previous_agent_id, self.released_at = self.agent_id, now
        self.state, self.agent_id, self.offer_id, self.counts_load = "closed", None, None, False

    def affinity_agent(self, now: datetime, settings: TenantSettings) -> str | None:
        """The previous assignee, if the ticket was released within the affinity window."""
        if self.previous_agent_id is None or self.released_at is None:
            return None
        window = timedelta(seconds=settings.affinity_window_seconds)
        return self.previous_agent_id if now - self.released_at <= window else None

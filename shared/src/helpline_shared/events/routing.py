"""Routing's events, published on ``helpline.routing``.

With manual acceptance a decision publishes ``TicketOffered``; the agent's accept publishes
``TicketAssigned``. With auto-accept (the default) a decision publishes ``TicketAssigned`` at once.
"""

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from helpline_shared import topics
from helpline_shared.events.base import (
    Channel,
    EmailAddress,
    Event,
    Priority,
)

__all__ = [
    "CandidateOutcome", "OfferDeclined", "OfferExpired", "RoutingExplanation", "TicketAssigned",
    "TicketClassified", "TicketOffered", "TicketQueued", "TicketRoutingRelaxed",
]


class CandidateOutcome(BaseModel):
    """One agent considered for a ticket and what came of it (won, lost: why, ineligible: why)."""

    model_config = ConfigDict(frozen=True)

    agent_id: str
    outcome: str


class RoutingExplanation(BaseModel):
    """Why a routing decision came out as it did."""

    model_config = ConfigDict(frozen=True)

    rule_id: str
    rule_version: int = Field(ge=0)
    required_skills: dict[str, int] = Field(default_factory=dict)
    """Every skill the decision required, with its minimum level (optional ones still in force)."""
    relaxed_skills: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    preferred_agents: tuple[str, ...] = ()
    candidates: tuple[CandidateOutcome, ...] = ()
    """The winner, the runners-up with why each lost, then ineligible agents (bounded)."""
    excluded: dict[str, int] = Field(default_factory=dict)
    """How many agents were ruled out, by reason."""
    winner_reason: str | None = None


class TicketAssigned(Event):
    """Routing assigned a ticket to an agent, and says why."""

    event_type: ClassVar[str] = "helpline.ticket.assigned.v1"
    topic: ClassVar[str] = topics.ROUTING

    agent_id: str
    agent_name: str
    agent_email: EmailAddress
    channel: Channel
    required_skills: tuple[str, ...] = ()
    candidates_considered: int = Field(ge=0)
    reason: str
    offer_id: str | None = None
    """The accepted offer, when the tenant uses manual acceptance."""
    manual: bool = False
    """An admin assigned the ticket directly."""
    over_capacity: bool = False
    """The admin explicitly exceeded the agent's capacity."""
    explanation: RoutingExplanation | None = None


class TicketClassified(Event):
    """Routing classified a ticket by the tenant's rules."""

    event_type: ClassVar[str] = "helpline.ticket.classified.v1"
    topic: ClassVar[str] = topics.ROUTING

    rule_id: str
    rule_version: int = Field(ge=0)
    required_skills: dict[str, int] = Field(default_factory=dict)
    optional_skills: dict[str, int] = Field(default_factory=dict)
    """Optional skills by relaxation priority (the highest number is dropped first)."""
    priority: Priority
    team: str | None = None


class TicketQueued(Event):
    """No agent could take the ticket: it waits in the queue, and this says why."""

    event_type: ClassVar[str] = "helpline.ticket.queued.v1"
    topic: ClassVar[str] = topics.ROUTING

    reason: str
    priority: Priority
    queued_at: datetime
    """When the ticket first entered the queue (its age is kept through declines)."""
    explanation: RoutingExplanation | None = None


class TicketOffered(Event):
    """A ticket is reserved for an agent until they accept, decline, or the offer expires."""

    event_type: ClassVar[str] = "helpline.ticket.offered.v1"
    topic: ClassVar[str] = topics.ROUTING

    offer_id: str
    agent_id: str
    agent_name: str
    agent_email: EmailAddress
    channel: Channel
    expires_at: datetime
    explanation: RoutingExplanation | None = None


class OfferDeclined(Event):
    """An offer was declined by its agent, or handed back because the agent left."""

    event_type: ClassVar[str] = "helpline.ticket.offer_declined.v1"
    topic: ClassVar[str] = topics.ROUTING

    offer_id: str
    agent_id: str
    handed_back: bool = False
    reason: str


class OfferExpired(Event):
    """An offer was not answered in time."""

    event_type: ClassVar[str] = "helpline.ticket.offer_expired.v1"
    topic: ClassVar[str] = topics.ROUTING

    offer_id: str
    agent_id: str
    expires_at: datetime
    agent_set_away: bool = False
    """The agent let too many offers expire in a row and is now away."""


class TicketRoutingRelaxed(Event):
    """A waiting ticket's needs were relaxed: an optional skill dropped or a team added."""

    event_type: ClassVar[str] = "helpline.ticket.routing_relaxed.v1"
    topic: ClassVar[str] = topics.ROUTING

    step: int = Field(ge=1)
    dropped_skill: str | None = None
    widened_to_team: str | None = None
    reason: str

"""Routing's events, published on ``helpline.routing``.

With manual acceptance a decision publishes ``TicketOffered``; the agent's accept publishes
``TicketAssigned``. With auto-accept (the default) a decision publishes ``TicketAssigned`` at once.
"""

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from helpline_contracts import topics
from helpline_contracts.events.base import (
    Channel,
    EmailAddress,
    Event,
    Priority,
)

__all__ = [
    "AgentPresence",
    "AgentPresenceChanged",
    "CandidateOutcome",
    "OfferDeclined",
    "OfferExpired",
    "PresenceReason",
    "RoutingExplanation",
    "TicketAssigned",
    "TicketClassified",
    "TicketOffered",
    "TicketQueued",
    "TicketRoutingRelaxed",
]

AgentPresence = Literal["available", "busy", "away", "offline"]
PresenceReason = Literal["person", "idle", "lead"]

AGENT_ID = "The agent's id in routing's directory."
OFFER_ID = "The offer's id (one per offer to one agent)."
EXAMPLE_OFFER_ID = "9d7e5c3a-1b2f-4a6e-8c0d-7f3e2a1b4c5d"
EXPLANATION = "Why the decision came out as it did (rule, skills, candidates, exclusions)."
CHANNEL = "The ticket's channel, whose capacity the agent uses: `api` or `email`."
EXAMPLE_CANDIDATES = [
    {"agent_id": "agent-7", "outcome": "won"},
    {"agent_id": "agent-3", "outcome": "lost: lower skill score 3 < 5"},
    {"agent_id": "agent-9", "outcome": "ineligible: presence is away"},
]
EXAMPLE_EXPLANATION = {
    "rule_id": "billing-de",
    "rule_version": 3,
    "required_skills": {"billing": 2, "german": 1},
    "relaxed_skills": [],
    "teams": ["billing"],
    "preferred_agents": [],
    "candidates": EXAMPLE_CANDIDATES,
    "excluded": {"presence is away": 1},
    "winner_reason": "won: higher skill score 5 > 3",
}


class CandidateOutcome(BaseModel):
    """One agent considered for a ticket and what came of it (won, lost: why, ineligible: why)."""

    model_config = ConfigDict(frozen=True)

    agent_id: str = Field(examples=["agent-7"], description=AGENT_ID)
    outcome: str = Field(
        examples=["lost: higher load 0.80 > 0.20 on email"],
        description="`won`, `lost: <why>` or `ineligible: <why>`.",
    )


class RoutingExplanation(BaseModel):
    """Why a routing decision came out as it did."""

    model_config = ConfigDict(frozen=True)

    rule_id: str = Field(
        examples=["billing-de"], description="The tenant's routing rule that classified the ticket."
    )
    rule_version: int = Field(
        ge=0, examples=[3], description="The version of the tenant's rules (0: built-in)."
    )
    required_skills: dict[str, int] = Field(
        default_factory=dict,
        examples=[{"billing": 2, "german": 1}],
        description="Every skill the decision required, with its minimum level (optional ones "
        "still in force).",
    )
    relaxed_skills: tuple[str, ...] = Field(
        default=(),
        examples=[["german"]],
        description="Optional skills dropped because the ticket waited too long.",
    )
    teams: tuple[str, ...] = Field(
        default=(),
        examples=[["billing"]],
        description="The teams the agent had to belong to (any).",
    )
    preferred_agents: tuple[str, ...] = Field(
        default=(),
        examples=[["agent-7"]],
        description="Agents preferred by affinity: the previous assignee, the account manager.",
    )
    candidates: tuple[CandidateOutcome, ...] = Field(
        default=(),
        examples=[EXAMPLE_CANDIDATES],
        description="The winner, the runners-up with why each lost, then ineligible agents "
        "(bounded).",
    )
    excluded: dict[str, int] = Field(
        default_factory=dict,
        examples=[{"presence is away": 2}],
        description="How many agents were ruled out, by reason.",
    )
    winner_reason: str | None = Field(
        default=None,
        examples=["won: higher skill score 5 > 3"],
        description="Why the winner beat the runner-up (none when nobody won).",
    )


class TicketAssigned(Event):
    """Routing assigned a ticket to an agent, and says why.

    Published by routing when its decision on a new, changed or waiting ticket picks an agent
    who accepts automatically, when an agent accepts an offer (`offer_id` set), and when an admin
    assigns directly (`manual`). Intake then makes a `new` ticket `open`.
    """

    event_type: ClassVar[str] = "helpline.ticket.assigned.v1"
    topic: ClassVar[str] = topics.ROUTING

    agent_id: str = Field(examples=["agent-7"], description="The agent the ticket now belongs to.")
    agent_name: str = Field(examples=["Ann Agent"], description="The agent's display name.")
    agent_email: EmailAddress = Field(
        examples=["ann@acme.example"], description="The agent's email address."
    )
    channel: Channel = Field(examples=["email"], description=CHANNEL)
    required_skills: tuple[str, ...] = Field(
        default=(),
        examples=[["billing", "german"]],
        description="The skills the decision required, sorted (levels: `explanation`).",
    )
    candidates_considered: int = Field(
        ge=0, examples=[12], description="How many agents the decision looked at."
    )
    reason: str = Field(
        examples=["won: higher skill score 5 > 3"], description="Why this agent, in one sentence."
    )
    offer_id: str | None = Field(
        default=None,
        examples=[EXAMPLE_OFFER_ID],
        description="The accepted offer, when the tenant uses manual acceptance.",
    )
    manual: bool = Field(
        default=False, examples=[False], description="An admin assigned the ticket directly."
    )
    over_capacity: bool = Field(
        default=False,
        examples=[False],
        description="The admin explicitly exceeded the agent's capacity.",
    )
    explanation: RoutingExplanation | None = Field(
        default=None, examples=[EXAMPLE_EXPLANATION], description=EXPLANATION
    )


class TicketClassified(Event):
    """Routing classified a ticket by the tenant's rules.

    Published by routing once per ticket, when it reads the ticket's `TicketCreated`, before its
    first routing decision.
    """

    event_type: ClassVar[str] = "helpline.ticket.classified.v1"
    topic: ClassVar[str] = topics.ROUTING

    rule_id: str = Field(
        examples=["billing-de"],
        description="The first of the tenant's rules that matched (`default`).",
    )
    rule_version: int = Field(
        ge=0, examples=[3], description="The version of the tenant's rules (0: built-in)."
    )
    required_skills: dict[str, int] = Field(
        default_factory=dict,
        examples=[{"billing": 2}],
        description="Skills an agent must have, with their minimum level.",
    )
    optional_skills: dict[str, int] = Field(
        default_factory=dict,
        examples=[{"german": 1}],
        description="Optional skills by relaxation priority (the highest number is dropped first).",
    )
    priority: Priority = Field(
        examples=["high"], description="The priority routing works with (the rule may set it)."
    )
    team: str | None = Field(
        default=None,
        examples=["billing"],
        description="The team the rule sends the ticket to, if any.",
    )


class TicketQueued(Event):
    """No agent could take the ticket: it waits in the queue, and this says why.

    Published by routing when a decision finds no eligible agent with room and the ticket enters
    the queue (not again while it stays there); it leaves with `TicketOffered` or
    `TicketAssigned`.
    """

    event_type: ClassVar[str] = "helpline.ticket.queued.v1"
    topic: ClassVar[str] = topics.ROUTING

    reason: str = Field(
        examples=["no eligible agent among 4 (presence is away: 4)"],
        description="Why nobody can take the ticket.",
    )
    priority: Priority = Field(examples=["normal"], description="The ticket's priority in queue.")
    queued_at: datetime = Field(
        examples=["2026-03-02T09:15:00Z"],
        description="When the ticket first entered the queue (its age is kept through declines).",
    )
    explanation: RoutingExplanation | None = Field(
        default=None, examples=[EXAMPLE_EXPLANATION], description=EXPLANATION
    )


class TicketOffered(Event):
    """A ticket is reserved for an agent until they accept, decline, or the offer expires.

    Published by routing instead of `TicketAssigned` when the tenant uses manual acceptance and
    the chosen agent does not accept automatically.
    """

    event_type: ClassVar[str] = "helpline.ticket.offered.v1"
    topic: ClassVar[str] = topics.ROUTING

    offer_id: str = Field(examples=[EXAMPLE_OFFER_ID], description=OFFER_ID)
    agent_id: str = Field(examples=["agent-7"], description="The agent the ticket is offered to.")
    agent_name: str = Field(examples=["Ann Agent"], description="The agent's display name.")
    agent_email: EmailAddress = Field(
        examples=["ann@acme.example"], description="The agent's email address."
    )
    channel: Channel = Field(examples=["email"], description=CHANNEL)
    expires_at: datetime = Field(
        examples=["2026-03-02T09:17:00Z"], description="When the offer expires unanswered."
    )
    explanation: RoutingExplanation | None = Field(
        default=None, examples=[EXAMPLE_EXPLANATION], description=EXPLANATION
    )


class OfferDeclined(Event):
    """An offer was declined by its agent, or handed back because the agent left.

    Published by routing when the agent declines an offer through the API, or (`handed_back`)
    when an agent who goes away or offline still holds open offers; the ticket is routed again.
    """

    event_type: ClassVar[str] = "helpline.ticket.offer_declined.v1"
    topic: ClassVar[str] = topics.ROUTING

    offer_id: str = Field(examples=[EXAMPLE_OFFER_ID], description=OFFER_ID)
    agent_id: str = Field(examples=["agent-7"], description="The agent who had the offer.")
    handed_back: bool = Field(
        default=False,
        examples=[False],
        description="True when routing handed the offer back because the agent left.",
    )
    reason: str = Field(
        examples=["busy with an outage"],
        description="The agent's reason, or why it was handed back.",
    )


class OfferExpired(Event):
    """An offer was not answered in time.

    Published by routing when an offer's `expires_at` passes unanswered; the ticket is routed
    again, to another agent.
    """

    event_type: ClassVar[str] = "helpline.ticket.offer_expired.v1"
    topic: ClassVar[str] = topics.ROUTING

    offer_id: str = Field(examples=[EXAMPLE_OFFER_ID], description=OFFER_ID)
    agent_id: str = Field(examples=["agent-7"], description="The agent who let it expire.")
    expires_at: datetime = Field(
        examples=["2026-03-02T09:17:00Z"], description="When the offer expired."
    )
    agent_set_away: bool = Field(
        default=False,
        examples=[False],
        description="The agent let too many offers expire in a row and is now away.",
    )


class TicketRoutingRelaxed(Event):
    """A waiting ticket's needs were relaxed: an optional skill dropped or a team added.

    Published by routing when a queued ticket has waited the tenant's relaxation delay; each step
    drops one optional skill or widens to a team, then routing tries again.
    """

    event_type: ClassVar[str] = "helpline.ticket.routing_relaxed.v1"
    topic: ClassVar[str] = topics.ROUTING

    step: int = Field(ge=1, examples=[1], description="The relaxation step, from 1.")
    dropped_skill: str | None = Field(
        default=None, examples=["german"], description="The optional skill no longer required."
    )
    widened_to_team: str | None = Field(
        default=None,
        examples=["support-l2"],
        description="The team added to those that may take it.",
    )
    reason: str = Field(
        examples=["optional skill german dropped after waiting since 2026-03-02T09:15:00+00:00"],
        description="What was relaxed and since when the ticket waits.",
    )


class AgentPresenceChanged(Event):
    """An agent's presence changed: set by the person, by someone else, or by the idle timeout.

    Published by routing on every change of an agent's presence: when the agent sets it
    (`person`), when a lead, an admin or a key sets it, or the agent's user is deactivated
    (`lead`), and when routing sets an idle agent away: no activity within the tenant's idle
    timeout, or too many offers let expire in a row (`idle`). The event is about no ticket:
    `ticket_id` (the record key) holds the agent id, so one agent's changes stay in order.
    """

    event_type: ClassVar[str] = "helpline.agent.presence_changed.v1"
    topic: ClassVar[str] = topics.ROUTING

    ticket_id: str = Field(
        default="",
        max_length=64,
        examples=["agent-7"],
        description="The record key: the agent id (presence is about no ticket).",
    )
    agent_id: str = Field(min_length=1, max_length=64, examples=["agent-7"], description=AGENT_ID)
    user_id: str | None = Field(
        default=None,
        max_length=64,
        examples=["3f2b8c1e-6a4d-4e0f-9b7a-2c5d8e1f0a3b"],
        description="The identity user the agent is (none for an agent of no account).",
    )
    presence: AgentPresence = Field(examples=["away"], description="The presence now.")
    previous: AgentPresence = Field(
        examples=["available"], description="The presence before the change."
    )
    reason: PresenceReason = Field(
        examples=["idle"],
        description="Who changed it: the agent (`person`), someone else for them (`lead`), or "
        "routing because the agent was idle (`idle`).",
    )

    @model_validator(mode="before")
    @classmethod
    def _key_by_agent(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("ticket_id"):
            return {**data, "ticket_id": data.get("agent_id", "")}
        return data

"""Routing's events, published on ``helpline.routing``."""

from typing import ClassVar

from pydantic import Field

from helpline_shared import topics
from helpline_shared.events.base import (
    Channel,
    EmailAddress,
    Event,
)

__all__ = ["TicketAssigned"]


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

"""What every event shares: the base model and the value types events are made of."""

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AuthorRole", "Channel", "EmailAddress", "Event", "NotificationChannel", "Priority",
    "Requester", "SlaMetric", "TicketStatus", "TicketType", "registry",
]

Priority = Literal["low", "normal", "high", "urgent"]
TicketType = Literal["corrective", "adaptive", "perfective", "preventive", "question"]
TicketStatus = Literal["new", "open", "pending", "on_hold", "solved", "closed"]
Channel = Literal["api", "email"]
AuthorRole = Literal["requester", "agent", "system"]
SlaMetric = Literal["first_response", "next_response", "periodic_update", "resolution"]
NotificationChannel = Literal["email", "webhook"]
EmailAddress = Annotated[
    str, Field(min_length=3, max_length=320, pattern=r"^[^@\s<>]+@[^@\s<>]+$")
]
"""An addr-spec (RFC 5322), checked loosely: reserved domains such as ``.test`` are allowed."""


class Event(BaseModel):
    """Base of every event: the tenant and the ticket it is about, and when it happened."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    topic: ClassVar[str]

    tenant_id: str = Field(min_length=1, max_length=64)
    ticket_id: str = Field(min_length=1, max_length=64)
    occurred_at: datetime


class Requester(BaseModel):
    """The customer who asked."""

    model_config = ConfigDict(frozen=True)

    email: EmailAddress
    name: str | None = None


def registry() -> dict[str, type[Event]]:
    """Every event model of this package by its CloudEvents ``type``."""
    found: dict[str, type[Event]] = {}
    pending: list[type[Event]] = list(Event.__subclasses__())
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        if model.__module__.startswith("helpline_shared.events") and "event_type" in vars(model):
            found[model.event_type] = model
    return dict(sorted(found.items()))

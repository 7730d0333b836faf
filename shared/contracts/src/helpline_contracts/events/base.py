"""What every event shares: the base model and the value types events are made of."""

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Actor",
    "ActorType",
    "AuthorRole",
    "Channel",
    "EmailAddress",
    "Event",
    "NotificationChannel",
    "Priority",
    "Requester",
    "SlaMetric",
    "TicketStatus",
    "TicketType",
    "registry",
]

Priority = Literal["low", "normal", "high", "urgent"]
TicketType = Literal["corrective", "adaptive", "perfective", "preventive", "question"]
TicketStatus = Literal["new", "open", "pending", "on_hold", "solved", "closed"]
Channel = Literal["api", "email"]
AuthorRole = Literal["requester", "agent", "system"]
SlaMetric = Literal["first_response", "next_response", "periodic_update", "resolution"]
NotificationChannel = Literal["email", "webhook"]
ActorType = Literal["user", "integration", "service", "customer", "system"]
EmailAddress = Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s<>]+@[^@\s<>]+$")]
"""An addr-spec (RFC 5322), checked loosely: reserved domains such as ``.test`` are allowed."""

EXAMPLE_TICKET_ID = "5f0c6a52-1d7e-4f8a-9c1b-2e6d4b3a7f10"
"""The ticket the examples of every event are about."""


class Actor(BaseModel):
    """Who caused an event: taken from the credential (or the mail) behind it, never a body."""

    model_config = ConfigDict(frozen=True)

    type: ActorType = Field(
        examples=["user"],
        description="A person (`user`), an API key (`integration`), a Helpline service, a "
        "customer writing in, or Helpline itself (`system`).",
    )
    id: str | None = Field(
        default=None,
        max_length=320,
        examples=["6b1f0c2e9a8d4e55b0c4c1d2e3f4a5b6"],
        description="The user id, API key id, service name or customer address; none for `system`.",
    )


class Event(BaseModel):
    """Base of every event: the tenant and the ticket it is about, and when it happened."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    topic: ClassVar[str]

    tenant_id: str = Field(
        min_length=1,
        max_length=64,
        examples=["acme"],
        description="The tenant (customer organisation of Helpline) the event belongs to.",
    )
    ticket_id: str = Field(
        min_length=1,
        max_length=64,
        examples=[EXAMPLE_TICKET_ID],
        description="The ticket the event is about; also the Kafka record key and `ce_subject`.",
    )
    occurred_at: datetime = Field(
        examples=["2026-03-02T09:15:00Z"],
        description="When it happened (RFC 3339, UTC), which may precede publication.",
    )
    actor: Actor | None = Field(
        default=None,
        examples=[{"type": "user", "id": "6b1f0c2e9a8d4e55b0c4c1d2e3f4a5b6"}],
        description="Who caused it, when a person, integration or service did (absent on "
        "events from before attribution, and on most automatic ones).",
    )


class Requester(BaseModel):
    """The customer who asked."""

    model_config = ConfigDict(frozen=True)

    email: EmailAddress = Field(
        examples=["cy@example.org"], description="The customer's email address; replies go there."
    )
    name: str | None = Field(
        default=None,
        examples=["Cy Customer"],
        description="The customer's display name, when known.",
    )


def registry() -> dict[str, type[Event]]:
    """Every event model of this package by its CloudEvents ``type``."""
    found: dict[str, type[Event]] = {}
    pending: list[type[Event]] = list(Event.__subclasses__())
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        if model.__module__.startswith(__package__ or "") and "event_type" in vars(model):
            found[model.event_type] = model
    return dict(sorted(found.items()))

"""Who wants which events: event-type patterns, filters and recipients of a subscription."""

import fnmatch
import functools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from helpline_notify.domain.errors import InvalidSubscription

Role = Literal["requester", "assignee", "team_lead", "manager", "watchers"]
ROLES: tuple[Role, ...] = ("requester", "assignee", "team_lead", "manager", "watchers")
SubscriptionChannel = Literal["email", "webhook"]


def matches_any(patterns: Iterable[str], event_type: str) -> bool:
    """Whether ``event_type`` matches one of the patterns (``*`` wildcards, as in fnmatch)."""
    # Every event asks each subscription's and endpoint's patterns again (tens of times per
    # ticket): the answer is kept; patterns and event types are few.
    return _matches(tuple(patterns), event_type)


@functools.lru_cache(maxsize=4096)
def _matches(patterns: tuple[str, ...], event_type: str) -> bool:
    return any(fnmatch.fnmatchcase(event_type, pattern) for pattern in patterns)


@dataclass(frozen=True)
class TicketFacts:
    """The ticket attributes subscription filters look at."""

    priority: str | None = None
    type: str | None = None
    organization_id: str | None = None
    team: str | None = None


@dataclass(frozen=True)
class Filters:
    """Restrictions on the ticket; an empty tuple means "any value"."""

    priority: tuple[str, ...] = ()
    type: tuple[str, ...] = ()
    organization_id: tuple[str, ...] = ()
    team: tuple[str, ...] = ()

    def accept(self, facts: TicketFacts) -> bool:
        """Whether a ticket with ``facts`` passes every filter."""
        return all(
            not allowed or value in allowed
            for allowed, value in (
                (self.priority, facts.priority),
                (self.type, facts.type),
                (self.organization_id, facts.organization_id),
                (self.team, facts.team),
            )
        )

    def as_dict(self) -> dict[str, list[str]]:
        """The filters as JSON-ready lists, leaving out the empty ones."""
        return {
            name: list(values)
            for name, values in (
                ("priority", self.priority),
                ("type", self.type),
                ("organization_id", self.organization_id),
                ("team", self.team),
            )
            if values
        }

    @classmethod
    def of(cls, raw: dict[str, list[str]] | None) -> "Filters":
        """Filters from their JSON form."""
        raw = raw or {}
        return cls(
            priority=tuple(raw.get("priority", ())),
            type=tuple(raw.get("type", ())),
            organization_id=tuple(raw.get("organization_id", ())),
            team=tuple(raw.get("team", ())),
        )


@dataclass(frozen=True)
class Subscription:
    """A tenant's wish: events of these types, passing these filters, go to these recipients."""

    id: str
    tenant_id: str
    event_types: tuple[str, ...]
    channel: SubscriptionChannel
    filters: Filters = field(default_factory=Filters)
    roles: tuple[Role, ...] = ()
    addresses: tuple[str, ...] = ()
    endpoint_ids: tuple[str, ...] = ()
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.event_types:
            raise InvalidSubscription("event_types: at least one pattern is needed")
        if self.channel == "email" and not (self.roles or self.addresses):
            raise InvalidSubscription("recipients: an email subscription needs roles or addresses")
        if self.channel == "webhook" and not self.endpoint_ids:
            raise InvalidSubscription("endpoint_ids: a webhook subscription needs endpoints")

    def applies(self, event_type: str, facts: TicketFacts) -> bool:
        """Whether an event of ``event_type`` about a ticket with ``facts`` is wanted."""
        return matches_any(self.event_types, event_type) and self.filters.accept(facts)


def new_subscription_id() -> str:
    """A fresh subscription id."""
    return str(uuid.uuid4())


def _default(event_type: str, *roles: Role) -> Subscription:
    return Subscription(
        id=f"default:{event_type}",
        tenant_id="*",
        event_types=(event_type,),
        channel="email",
        roles=roles,
    )


DEFAULT_SUBSCRIPTIONS: tuple[Subscription, ...] = (
    _default("helpline.ticket.created.v1", "requester"),
    _default("helpline.ticket.message_added.v1", "requester", "assignee", "watchers"),
    _default("helpline.ticket.assigned.v1", "assignee"),
    _default("helpline.ticket.offered.v1", "assignee"),
    _default("helpline.sla.warning.v1", "assignee"),
    _default("helpline.sla.breached.v1", "assignee"),
)
"""Email subscriptions of a tenant that has set up none of its own.

``helpline.sla.escalated.v1`` needs none: the escalation event names the roles to tell. A message
goes to the other side only: an agent's reply to the requester, the customer's to the assignee.
"""

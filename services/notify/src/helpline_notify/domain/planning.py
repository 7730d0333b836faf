"""Which notifications an event causes: who is emailed, which endpoints are called."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from helpline_notify.domain.model import Delivery, DeliveryChannel, TicketView, WebhookEndpoint
from helpline_notify.domain.people import Person, RolePeople
from helpline_notify.domain.subscriptions import (
    DEFAULT_SUBSCRIPTIONS,
    ROLES,
    Role,
    Subscription,
    TicketFacts,
    matches_any,
)
from helpline_shared.envelope import Envelope, derived_event_id
from helpline_shared.events import (
    Event,
    MessageAdded,
    SlaEscalated,
    TicketAssigned,
    TicketOffered,
)

SLA_EVENT_PREFIX = "helpline.sla."
NOT_NOTIFIED_PREFIX = "helpline.notification."
"""Notify's own outcome events never notify: a webhook about a webhook would never end."""


def delivery_id(trigger_event_id: str, channel: DeliveryChannel, destination: str) -> str:
    """The stable notification id: the same event, channel and destination give the same id."""
    return derived_event_id("notification", trigger_event_id, channel, destination)


@dataclass(frozen=True)
class EmailTarget:
    """One email recipient of an event: who (by role or fixed address) and where, if known."""

    label: str
    """The role (``requester``...) or ``address`` for a fixed address."""
    address: str | None
    user_id: str | None = None
    """The tenant's user the address belongs to, when the role resolved to a person."""


def facts_of(ticket: TicketView | None) -> TicketFacts:
    """The ticket attributes that subscription filters look at."""
    if ticket is None:
        return TicketFacts()
    return TicketFacts(
        priority=ticket.priority,
        type=ticket.type,
        organization_id=ticket.organization_id,
        team=ticket.team,
    )


def notifies(event_type: str, event: Event) -> bool:
    """Whether the event can notify at all (a public reply does, by mail or API; a note, an
    auto-reply or a system message does not)."""
    if event_type.startswith(NOT_NOTIFIED_PREFIX):
        return False
    if isinstance(event, MessageAdded):
        return event.author_role in ("agent", "requester") and event.public and not event.auto_reply
    return True


def human_reply(event: Event) -> bool:
    """Whether the event is a person's public reply: mailed as a person's mail, not a robot's
    (no ``Auto-Submitted``, no automatic footer, no loop cap)."""
    return (
        isinstance(event, MessageAdded)
        and event.author_role == "agent"
        and event.public
        and event.actor is not None
        and event.actor.type == "user"
    )


def loop_capped(event: Event, target: EmailTarget, *, human: bool) -> bool:
    """Whether the per-address loop cap applies: to automatic mail only, and not to the agent an
    assignment or offer is about (staff must hear of their work however much of it there is)."""
    if human:
        return False
    return not (isinstance(event, TicketAssigned | TicketOffered) and target.label == "assignee")


def attached_files(event: Event) -> list[dict[str, Any]] | None:
    """What a message's mail carries of its attachments (where to read each one), if any."""
    if not isinstance(event, MessageAdded) or not event.attachments:
        return None
    return [{"message_id": event.message_id, **item.model_dump()} for item in event.attachments]


def _people(role: str, people: tuple[Person, ...]) -> list[EmailTarget]:
    return [EmailTarget(role, person.email, person.user_id) for person in people]


def role_targets(
    role: Role, event: Event, ticket: TicketView | None, people: RolePeople, escalation_email: str
) -> list[EmailTarget]:
    """Who a role stands for on this ticket: one target per person (no address: unknown)."""
    if isinstance(event, MessageAdded) and role in ("requester", "assignee"):
        # A message goes to the other side: the customer's reply to the assignee, an agent's
        # reply to the customer; never back to the side that wrote it.
        wanted = "requester" if event.author_role == "agent" else "assignee"
        if role != wanted or (role == "assignee" and not (ticket and ticket.assignee_email)):
            return []  # a customer's reply to an unowned ticket waits in the queue: no mail
    if role == "requester":
        return [EmailTarget(role, ticket.requester_email if ticket else None)]
    if role == "assignee":
        if isinstance(event, TicketAssigned | TicketOffered):
            # The agent the event is about: the new assignee, or the one offered the ticket.
            return [EmailTarget(role, str(event.agent_email))]
        if ticket and ticket.assignee_email:
            return [EmailTarget(role, ticket.assignee_email)]
        # Nobody owns the ticket yet: an SLA problem goes to the escalation address instead.
        return [
            EmailTarget(
                role, escalation_email if event.event_type.startswith(SLA_EVENT_PREFIX) else None
            )
        ]
    if role == "watchers":
        return _people(role, people.watchers)
    found = people.team_leads if role == "team_lead" else people.managers
    # Nobody known to stand for the role: the escalation address hears of it rather than no one.
    return _people(role, found) or [EmailTarget(role, escalation_email)]


def _subscribed(
    event_type: str,
    event: Event,
    ticket: TicketView | None,
    subscriptions: Sequence[Subscription],
) -> tuple[list[Role], list[EmailTarget]]:
    """The roles and the fixed addresses the email subscriptions want told of the event."""
    if not notifies(event_type, event):
        return [], []
    email_subscriptions = [s for s in subscriptions if s.channel == "email"]
    chosen = email_subscriptions or list(DEFAULT_SUBSCRIPTIONS)
    facts = facts_of(ticket)
    targets: list[EmailTarget] = []
    roles: list[Role] = []
    for subscription in chosen:
        if subscription.applies(event_type, facts):
            roles.extend(subscription.roles)
            targets.extend(EmailTarget("address", address) for address in subscription.addresses)
    if isinstance(event, SlaEscalated):
        roles.extend(role for role in event.notify if role in ROLES)
    return roles, targets


def emailed_roles(
    event_type: str,
    event: Event,
    ticket: TicketView | None,
    subscriptions: Sequence[Subscription],
) -> frozenset[Role]:
    """The roles mailed about the event: only their people need looking up."""
    return frozenset(_subscribed(event_type, event, ticket, subscriptions)[0])


def email_targets(
    event_type: str,
    event: Event,
    ticket: TicketView | None,
    subscriptions: Sequence[Subscription],
    *,
    escalation_email: str,
    people: RolePeople = RolePeople(),
) -> list[EmailTarget]:
    """Everyone to email about the event, once each (by address), in subscription order."""
    roles, targets = _subscribed(event_type, event, ticket, subscriptions)
    targets = [
        target
        for role in dict.fromkeys(roles)
        for target in role_targets(role, event, ticket, people, escalation_email)
    ] + targets
    seen: set[str] = set()
    unique: list[EmailTarget] = []
    for target in targets:
        key = target.address.lower() if target.address else f"role:{target.label}"
        if key not in seen:
            seen.add(key)
            unique.append(target)
    return unique


def may_notify(
    event_type: str,
    event: Event,
    subscriptions: Sequence[Subscription],
    endpoints: Sequence[WebhookEndpoint],
) -> bool:
    """Whether an email subscription or an endpoint may want the event, whatever the ticket's
    facts (their filters are looked at once the ticket is read): False means nothing to do."""
    if event_type.startswith(NOT_NOTIFIED_PREFIX):
        return False
    if notifies(event_type, event):
        email_subscriptions = [s for s in subscriptions if s.channel == "email"]
        chosen = email_subscriptions or DEFAULT_SUBSCRIPTIONS
        if isinstance(event, SlaEscalated) or any(
            matches_any(s.event_types, event_type) for s in chosen
        ):
            return True
    return any(
        matches_any(s.event_types, event_type)
        for s in subscriptions
        if s.channel == "webhook" and s.endpoint_ids
    ) or any(
        endpoint.tenant_id == event.tenant_id and endpoint.wants(event_type)
        for endpoint in endpoints
    )


def webhook_targets(
    event_type: str,
    event: Event,
    ticket: TicketView | None,
    endpoints: Sequence[WebhookEndpoint],
    subscriptions: Sequence[Subscription],
) -> list[WebhookEndpoint]:
    """The tenant's endpoints (enabled or not) that want this event."""
    if event_type.startswith(NOT_NOTIFIED_PREFIX):
        return []
    facts = facts_of(ticket)
    by_subscription = {
        endpoint_id
        for s in subscriptions
        if s.channel == "webhook" and s.applies(event_type, facts)
        for endpoint_id in s.endpoint_ids
    }
    return [
        endpoint
        for endpoint in endpoints
        if endpoint.tenant_id == event.tenant_id
        and (
            (endpoint.wants(event_type) and endpoint.filters.accept(facts))
            or endpoint.id in by_subscription
        )
    ]


def pending_delivery(
    envelope: Envelope,
    channel: DeliveryChannel,
    destination: str,
    *,
    payload: str,
    now: datetime,
    trace: dict[str, str],
    subject: str | None = None,
    html: str | None = None,
    headers: dict[str, str] | None = None,
    ordered: bool = False,
    attachments: list[dict[str, Any]] | None = None,
) -> Delivery:
    """A new delivery caused by ``envelope``, due now."""
    event = envelope.event
    return Delivery(
        id=delivery_id(envelope.id, channel, destination),
        tenant_id=event.tenant_id,
        ticket_id=event.ticket_id,
        channel=channel,
        destination=destination,
        trigger_event_id=envelope.id,
        trigger_event_type=envelope.type,
        payload=payload,
        subject=subject,
        trace_headers=dict(trace),
        created_at=now,
        html=html,
        headers=headers,
        ordered=ordered,
        attachments=attachments,
    )

"""Which notifications an event causes: who is told, through which channel, saying what."""

from collections.abc import Sequence
from datetime import datetime

from helpline_notify.domain.model import Delivery, DeliveryChannel, TicketView, WebhookEndpoint
from helpline_notify.domain.templates import (
    EmailContent,
    assigned_email,
    breached_email,
    webhook_body,
)
from helpline_shared.envelope import Envelope, derived_event_id
from helpline_shared.events import SlaBreached, TicketAssigned

NOTIFYING_EVENT_TYPES: tuple[str, ...] = (TicketAssigned.event_type, SlaBreached.event_type)
"""Event types that cause emails and webhooks (and the types an endpoint may subscribe to)."""


def delivery_id(trigger_event_id: str, channel: DeliveryChannel, destination: str) -> str:
    """The stable notification id: the same event, channel and destination give the same id."""
    return derived_event_id("notification", trigger_event_id, channel, destination)


def email_recipient(
    envelope: Envelope, ticket: TicketView | None, escalation_email: str
) -> str | None:
    """Who is emailed about this event: the new assignee, the breached ticket's owner."""
    event = envelope.event
    if isinstance(event, TicketAssigned):
        return str(event.agent_email)
    if isinstance(event, SlaBreached):
        return ticket.assignee_email if ticket and ticket.assignee_email else escalation_email
    return None


def email_content(envelope: Envelope, ticket: TicketView | None) -> EmailContent | None:
    """The email this event's template renders, if the event type has one."""
    event = envelope.event
    if isinstance(event, TicketAssigned):
        return assigned_email(event, ticket)
    if isinstance(event, SlaBreached):
        return breached_email(event, ticket)
    return None


def plan_deliveries(
    envelope: Envelope,
    ticket: TicketView | None,
    endpoints: Sequence[WebhookEndpoint],
    *,
    escalation_email: str,
    trace_headers: dict[str, str],
    now: datetime,
) -> list[Delivery]:
    """The email and webhook deliveries ``envelope`` causes, each one pending and due now."""
    if envelope.type not in NOTIFYING_EVENT_TYPES:
        return []
    event = envelope.event

    def delivery(channel: DeliveryChannel, destination: str, payload: str,
                 subject: str | None) -> Delivery:
        return Delivery(
            id=delivery_id(envelope.id, channel, destination), tenant_id=event.tenant_id,
            ticket_id=event.ticket_id, channel=channel, destination=destination,
            trigger_event_id=envelope.id, trigger_event_type=envelope.type, payload=payload,
            subject=subject, trace_headers=dict(trace_headers), created_at=now,
        )

    deliveries: list[Delivery] = []
    recipient = email_recipient(envelope, ticket, escalation_email)
    content = email_content(envelope, ticket)
    if recipient and content:
        deliveries.append(delivery("email", recipient, content.text, content.subject))
    body = webhook_body(envelope.type, envelope.time, event)
    deliveries.extend(
        delivery("webhook", endpoint.id, body, None)
        for endpoint in endpoints
        if endpoint.tenant_id == event.tenant_id and endpoint.wants(envelope.type)
    )
    return deliveries

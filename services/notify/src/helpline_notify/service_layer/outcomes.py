"""What the worker publishes and queues after an attempt: outcome events, the owner's notice."""

from datetime import datetime

from helpline_notify.domain.errors import InvalidTemplate
from helpline_notify.domain.model import OPERATOR_CANCELLED, Delivery, WebhookEndpoint
from helpline_notify.domain.planning import delivery_id
from helpline_notify.domain.retry import AttemptOutcome
from helpline_notify.domain.templates import DEFAULT_TEMPLATES, EmailContent
from helpline_notify.domain.threading import outbound_message_id, thread_headers
from helpline_notify.service_layer.ports import TemplateRenderer
from helpline_shared.envelope import derived_event_id
from helpline_shared.events import (
    Event,
    NotificationDelivered,
    NotificationFailed,
    NotificationSuppressed,
)

ENDPOINT_DISABLED = "helpline.webhook_endpoint.disabled"
"""The (internal) trigger type of the email telling an owner their endpoint was disabled."""


def outcome_event(
    delivery: Delivery, outcome: AttemptOutcome, will_retry: bool, now: datetime
) -> Event:
    """``NotificationDelivered`` or ``NotificationFailed`` for one attempt."""
    common = {
        "tenant_id": delivery.tenant_id,
        "ticket_id": delivery.ticket_id,
        "occurred_at": now,
        "notification_id": delivery.id,
        "channel": delivery.channel,
        "trigger_event_id": delivery.trigger_event_id,
        "trigger_event_type": delivery.trigger_event_type,
        "attempt": delivery.attempts,
    }
    if outcome.delivered:
        return NotificationDelivered.model_validate(
            {**common, "outbound_message_id": delivery.message_id}
        )
    return NotificationFailed.model_validate(
        {**common, "error": outcome.error or "unknown error", "will_retry": will_retry}
    )


def cancelled_event(delivery: Delivery, now: datetime) -> NotificationFailed:
    """The final ``NotificationFailed`` of a delivery an operator cancelled."""
    return NotificationFailed.model_validate(
        {
            "tenant_id": delivery.tenant_id,
            "ticket_id": delivery.ticket_id,
            "occurred_at": now,
            "notification_id": delivery.id,
            "channel": delivery.channel,
            "trigger_event_id": delivery.trigger_event_id,
            "trigger_event_type": delivery.trigger_event_type,
            # The event counts attempts from 1: a delivery cancelled before any is "attempt 1".
            "attempt": max(1, delivery.attempts),
            "error": OPERATOR_CANCELLED,
            "will_retry": False,
        }
    )


def suppressed_event(
    delivery: Delivery, reason: str, detail: str, now: datetime
) -> NotificationSuppressed:
    """``NotificationSuppressed`` for a delivery the worker decided not to send."""
    return NotificationSuppressed.model_validate(
        {
            "tenant_id": delivery.tenant_id,
            "ticket_id": delivery.ticket_id,
            "occurred_at": now,
            "notification_id": delivery.id,
            "channel": delivery.channel,
            "trigger_event_id": delivery.trigger_event_id,
            "trigger_event_type": delivery.trigger_event_type,
            "reason": reason,
            "detail": detail[:1000],
        }
    )


async def owner_notice(
    endpoint: WebhookEndpoint,
    cause: Delivery,
    error: str,
    email_domain: str,
    renderer: TemplateRenderer,
    now: datetime,
) -> Delivery:
    """The email telling the endpoint's owner it was disabled (or, with no owner, a stub)."""
    trigger_id = derived_event_id(
        ENDPOINT_DISABLED, endpoint.id, (endpoint.failing_since or now).isoformat()
    )
    address = endpoint.owner_email or "role:endpoint_owner"
    identity = delivery_id(trigger_id, "email", address)
    context = {
        "event": {
            "url": endpoint.url,
            "endpoint_id": endpoint.id,
            "error": error,
            "failing_since": (endpoint.failing_since or now).isoformat(),
        }
    }
    try:
        content = await renderer.render(DEFAULT_TEMPLATES[ENDPOINT_DISABLED], context)
    except InvalidTemplate as error:  # the URL or error is huge, or the renderer is stuck
        content = EmailContent(
            subject="Webhook endpoint disabled",
            text=f"Webhook endpoint {endpoint.id} was disabled ({error}).",
        )
    notice = Delivery(
        id=identity,
        tenant_id=endpoint.tenant_id,
        ticket_id=cause.ticket_id,
        channel="email",
        destination=address,
        trigger_event_id=trigger_id,
        trigger_event_type=ENDPOINT_DISABLED,
        payload=content.text,
        subject=content.subject,
        trace_headers=dict(cause.trace_headers),
        created_at=now,
        html=content.html,
        headers=thread_headers(
            outbound_message_id(identity, email_domain), (), acknowledgement=False, reply_to=None
        ),
    )
    if endpoint.owner_email is None:
        notice.suppress("no_recipient: the endpoint has no owner_email")
    return notice

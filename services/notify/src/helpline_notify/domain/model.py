"""Webhook endpoints, the ticket read model and the delivery ledger, as plain data and rules."""

import base64
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from helpline_notify.domain.retry import AttemptOutcome, retry_delay

DeliveryChannel = Literal["email", "webhook"]
DeliveryStatus = Literal["pending", "delivered", "failed"]

ALL_EVENT_TYPES = "*"
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
"""Standard Webhooks asks for at least 24 random bytes."""


def new_id() -> str:
    """A fresh endpoint id."""
    return str(uuid.uuid4())


def new_webhook_secret() -> str:
    """A fresh signing secret: ``whsec_`` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def ticket_token(ticket_id: str) -> str:
    """The short ticket reference shown in subjects, like ``[#1a2b3c4d]``."""
    return f"[#{ticket_id[:8]}]"


@dataclass(frozen=True)
class WebhookEndpoint:
    """A partner URL that receives the tenant's events of the types it subscribed to."""

    id: str
    tenant_id: str
    url: str
    secret: str
    event_types: tuple[str, ...]
    enabled: bool
    created_at: datetime

    def wants(self, event_type: str) -> bool:
        """Whether this endpoint should receive events of ``event_type``."""
        return self.enabled and (
            ALL_EVENT_TYPES in self.event_types or event_type in self.event_types
        )


@dataclass(frozen=True)
class TicketView:
    """What notify knows of a ticket, learnt from ticket and routing events."""

    ticket_id: str
    tenant_id: str
    subject: str | None = None
    requester_email: str | None = None
    assignee_id: str | None = None
    assignee_name: str | None = None
    assignee_email: str | None = None


@dataclass
class Delivery:
    """One notification to one destination, and the state of its attempts."""

    id: str
    tenant_id: str
    ticket_id: str
    channel: DeliveryChannel
    destination: str
    """The endpoint id of a webhook, the address of an email."""
    trigger_event_id: str
    trigger_event_type: str
    payload: str
    """The exact webhook body, or the email's text body."""
    subject: str | None
    trace_headers: dict[str, str]
    created_at: datetime
    status: DeliveryStatus = "pending"
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    lease_until: datetime | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.next_attempt_at is None and self.status == "pending":
            self.next_attempt_at = self.created_at

    def begin_attempt(self, lease_until: datetime) -> None:
        """Count an attempt and hold the delivery until ``lease_until`` while it is made."""
        self.attempts += 1
        self.next_attempt_at = lease_until
        self.lease_until = lease_until

    def record_attempt(self, outcome: AttemptOutcome, now: datetime, jitter: float) -> bool:
        """Apply an attempt's outcome; return whether another attempt will follow."""
        if outcome.delivered:
            self.status, self.delivered_at, self.next_attempt_at = "delivered", now, None
            self.last_error = None
            return False
        self.last_error = (outcome.error or "unknown error")[:1000]
        delay: timedelta | None = None
        if not outcome.permanent:
            delay = retry_delay(self.attempts, retry_after=outcome.retry_after, jitter=jitter)
        if delay is None:
            self.status, self.next_attempt_at = "failed", None
            return False
        self.next_attempt_at = now + delay
        return True

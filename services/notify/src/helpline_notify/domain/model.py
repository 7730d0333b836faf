"""Webhook endpoints, the ticket read model and the delivery ledger, as plain data and rules."""

import base64
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from helpline_notify.domain.retry import MAX_ATTEMPTS, AttemptOutcome, retry_delay
from helpline_notify.domain.subscriptions import Filters, matches_any

DeliveryChannel = Literal["email", "webhook"]
DeliveryStatus = Literal["pending", "delivered", "failed", "suppressed"]

ALL_EVENT_TYPES = "*"
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
"""Standard Webhooks asks for at least 24 random bytes."""
OPERATOR_CANCELLED = "cancelled by operator"

_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"
"""What ``printable`` puts in place of a control character."""


def new_id() -> str:
    """A fresh endpoint id."""
    return str(uuid.uuid4())


def new_webhook_secret() -> str:
    """A fresh signing secret: ``whsec_`` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def printable(text: str) -> str:
    """``text`` with control characters and lone surrogates replaced (PostgreSQL refuses NUL)."""
    return _UNPRINTABLE.sub(REPLACEMENT, text)


def storable(text: str) -> str:
    """``text`` with only what PostgreSQL refuses replaced (NUL, lone surrogates)."""
    return _UNSTORABLE.sub(REPLACEMENT, text)


def unstorable_character(text: str) -> str | None:
    """The first character PostgreSQL cannot store in text (NUL, a lone surrogate), if any."""
    found = _UNSTORABLE.search(text)
    return found.group() if found else None


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
    previous_secret: str | None = None
    previous_secret_expires_at: datetime | None = None
    ordered: bool = False
    """Deliver one ticket's events to this endpoint strictly one after the other."""
    owner_email: str | None = None
    """Who is told when the endpoint is disabled for failing too long."""
    filters: Filters = field(default_factory=Filters)
    failing_since: datetime | None = None
    disabled_reason: str | None = None
    personal_data: bool = True
    """Whether deliveries carry personal data (names, addresses, message text) or null."""

    def wants(self, event_type: str) -> bool:
        """Whether this endpoint subscribed to events of ``event_type`` (enabled or not)."""
        return matches_any(self.event_types, event_type)

    def signing_secrets(self, now: datetime) -> tuple[str, ...]:
        """The secrets each delivery is signed with: the current one and, in rotation, the old."""
        if (
            self.previous_secret
            and self.previous_secret_expires_at
            and now < self.previous_secret_expires_at
        ):
            return (self.secret, self.previous_secret)
        return (self.secret,)


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
    requester_name: str | None = None
    priority: str | None = None
    type: str | None = None
    organization_id: str | None = None
    language: str | None = None
    mailbox: str | None = None
    """The tenant's mailbox the ticket came in through: replies go there."""
    thread: tuple[str, ...] = ()
    """Message-IDs of the ticket's mail so far, oldest first (for ``References``)."""
    team: str | None = None
    """The team routing classified the ticket for (or widened it to)."""
    account_manager_id: str | None = None
    """Routing's agent id of the organisation's account manager, as its decisions name them."""


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
    html: str | None = None
    headers: dict[str, str] | None = None
    """Extra email headers (threading, ``Auto-Submitted``), including ``Message-ID``."""
    ordered: bool = False
    attempts_before_replay: int = 0
    attachments: list[dict[str, Any]] | None = None
    """Files the email carries (a person's reply): ``message_id``, ``id``, ``filename``,
    ``content_type``, ``size``; read from where intake keeps them at each attempt."""
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
        self.last_error = printable(outcome.error or "unknown error")[:1000]
        delay: timedelta | None = None
        if not outcome.permanent:
            delay = retry_delay(
                self.attempts - self.attempts_before_replay,
                retry_after=outcome.retry_after,
                jitter=jitter,
            )
        if delay is None:
            self.status, self.next_attempt_at = "failed", None
            return False
        self.next_attempt_at = now + delay
        return True

    def suppress(self, reason: str) -> None:
        """Mark the delivery as deliberately not sent."""
        self.status, self.next_attempt_at, self.last_error = "suppressed", None, printable(reason)

    def give_up(self, reason: str) -> None:
        """End the delivery as failed for good, with ``reason`` for the operator."""
        self.status, self.next_attempt_at, self.last_error = "failed", None, printable(reason)

    def replay(self, now: datetime) -> None:
        """Queue the delivery again with a fresh retry schedule (same id: receivers dedup)."""
        self.status, self.next_attempt_at, self.delivered_at = "pending", now, None
        self.attempts_before_replay = self.attempts

    @property
    def unrecorded_claims(self) -> bool:
        """Whether more attempts were claimed than the schedule allows (their outcomes lost)."""
        return self.attempts - self.attempts_before_replay > MAX_ATTEMPTS

    @property
    def message_id(self) -> str | None:
        """The Message-ID of an email delivery."""
        return (self.headers or {}).get("Message-ID")


@dataclass(frozen=True)
class Attempt:
    """One recorded attempt: when, how long, how it ended, what the destination said."""

    delivery_id: str
    tenant_id: str
    attempt: int
    started_at: datetime
    latency_ms: float
    outcome: str
    status_code: int | None
    detail: str | None

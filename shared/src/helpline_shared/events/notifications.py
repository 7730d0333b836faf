"""Delivery outcomes, published by notify on ``helpline.notifications``."""

from typing import ClassVar, Literal

from pydantic import Field

from helpline_shared import topics
from helpline_shared.events.base import (
    Event,
    NotificationChannel,
)

__all__ = ["NotificationDelivered", "NotificationFailed", "NotificationSuppressed"]


class NotificationDelivered(Event):
    """An email or webhook triggered by an event was accepted by its destination."""

    event_type: ClassVar[str] = "helpline.notification.delivered.v1"
    topic: ClassVar[str] = topics.NOTIFICATIONS

    notification_id: str
    channel: NotificationChannel
    trigger_event_id: str
    trigger_event_type: str
    attempt: int = Field(ge=1)
    outbound_message_id: str | None = None
    """For email: the Message-ID we sent, so intake can thread replies to it."""


class NotificationFailed(Event):
    """An email or webhook attempt failed; ``will_retry`` says whether another attempt follows."""

    event_type: ClassVar[str] = "helpline.notification.failed.v1"
    topic: ClassVar[str] = topics.NOTIFICATIONS

    notification_id: str
    channel: NotificationChannel
    trigger_event_id: str
    trigger_event_type: str
    attempt: int = Field(ge=1)
    error: str
    will_retry: bool


class NotificationSuppressed(Event):
    """A notification was deliberately not sent; ``reason`` says why (nothing vanishes silently)."""

    event_type: ClassVar[str] = "helpline.notification.suppressed.v1"
    topic: ClassVar[str] = topics.NOTIFICATIONS

    notification_id: str
    channel: NotificationChannel
    trigger_event_id: str
    trigger_event_type: str
    reason: Literal[
        "suppressed_address", "loop_cap", "no_template", "disabled_endpoint", "no_recipient",
    ]
    detail: str | None = None

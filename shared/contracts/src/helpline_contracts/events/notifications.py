"""Delivery outcomes, published by notify on ``helpline.notifications``."""

from typing import ClassVar, Literal

from pydantic import Field

from helpline_contracts import topics
from helpline_contracts.events.base import (
    Event,
    NotificationChannel,
)

__all__ = ["NotificationDelivered", "NotificationFailed", "NotificationSuppressed"]

NOTIFICATION_ID = (
    "The notification (one message to one recipient or endpoint), stable across attempts."
)
EXAMPLE_NOTIFICATION_ID = "4c2e8a6f-3b1d-5e7a-9f0c-1d2b3a4e5f60"
NOTIFICATION_CHANNEL = "How it is delivered: `email` or `webhook`."
TRIGGER_EVENT_ID = "The `ce_id` of the event that caused the notification."
EXAMPLE_TRIGGER_EVENT_ID = "7e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
TRIGGER_EVENT_TYPE = "The `ce_type` of the event that caused the notification."
ATTEMPT = "The attempt's number, from 1."


class NotificationDelivered(Event):
    """An email or webhook triggered by an event was accepted by its destination.

    Published by notify after each attempt that succeeds: the SMTP server accepted the mail, or
    the webhook endpoint answered 2xx.
    """

    event_type: ClassVar[str] = "helpline.notification.delivered.v1"
    topic: ClassVar[str] = topics.NOTIFICATIONS

    notification_id: str = Field(examples=[EXAMPLE_NOTIFICATION_ID], description=NOTIFICATION_ID)
    channel: NotificationChannel = Field(examples=["webhook"], description=NOTIFICATION_CHANNEL)
    trigger_event_id: str = Field(examples=[EXAMPLE_TRIGGER_EVENT_ID], description=TRIGGER_EVENT_ID)
    trigger_event_type: str = Field(
        examples=["helpline.ticket.assigned.v1"], description=TRIGGER_EVENT_TYPE
    )
    attempt: int = Field(ge=1, examples=[1], description=ATTEMPT)
    outbound_message_id: str | None = Field(
        default=None,
        examples=["<helpline-3f2a@acme.example>"],
        description="For email: the Message-ID we sent, so intake can thread replies to it.",
    )


class NotificationFailed(Event):
    """An email or webhook attempt failed; ``will_retry`` says whether another attempt follows.

    Published by notify after each attempt that fails (refused, timed out, non-2xx answer).
    """

    event_type: ClassVar[str] = "helpline.notification.failed.v1"
    topic: ClassVar[str] = topics.NOTIFICATIONS

    notification_id: str = Field(examples=[EXAMPLE_NOTIFICATION_ID], description=NOTIFICATION_ID)
    channel: NotificationChannel = Field(examples=["webhook"], description=NOTIFICATION_CHANNEL)
    trigger_event_id: str = Field(examples=[EXAMPLE_TRIGGER_EVENT_ID], description=TRIGGER_EVENT_ID)
    trigger_event_type: str = Field(
        examples=["helpline.ticket.assigned.v1"], description=TRIGGER_EVENT_TYPE
    )
    attempt: int = Field(ge=1, examples=[2], description=ATTEMPT)
    error: str = Field(examples=["HTTP 503"], description="What went wrong, briefly.")
    will_retry: bool = Field(examples=[True], description="True when another attempt is scheduled.")


class NotificationSuppressed(Event):
    """A notification was deliberately not sent; ``reason`` says why (nothing vanishes silently).

    Published by notify when an event would notify but policy forbids it: the address bounced,
    the loop cap was hit, no template or recipient exists, or the endpoint is disabled.
    """

    event_type: ClassVar[str] = "helpline.notification.suppressed.v1"
    topic: ClassVar[str] = topics.NOTIFICATIONS

    notification_id: str = Field(examples=[EXAMPLE_NOTIFICATION_ID], description=NOTIFICATION_ID)
    channel: NotificationChannel = Field(examples=["email"], description=NOTIFICATION_CHANNEL)
    trigger_event_id: str = Field(examples=[EXAMPLE_TRIGGER_EVENT_ID], description=TRIGGER_EVENT_ID)
    trigger_event_type: str = Field(
        examples=["helpline.ticket.created.v1"], description=TRIGGER_EVENT_TYPE
    )
    reason: Literal[
        "suppressed_address",
        "loop_cap",
        "no_template",
        "disabled_endpoint",
        "no_recipient",
    ] = Field(examples=["suppressed_address"], description="Why it was not sent.")
    detail: str | None = Field(
        default=None,
        examples=["cy@example.org bounced 5.1.1"],
        description="More about the reason, for people.",
    )

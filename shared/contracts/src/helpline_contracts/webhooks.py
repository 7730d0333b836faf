"""The webhook bodies notify sends: an event's type, its time and the event as ``data``.

Each delivery is a Standard Webhooks request (``webhook-id``, ``webhook-timestamp`` and
``webhook-signature`` headers) whose JSON body one of these models describes.
"""

from datetime import datetime
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from helpline_contracts.events import Event

__all__ = ["HEADERS", "webhook_body_model"]

HEADERS = {
    "webhook-id": "The message's id: the same on every retry and resend of it, so dedupe on it.",
    "webhook-timestamp": "When this attempt was signed, in Unix seconds; refuse one more than "
    "5 minutes away from your clock.",
    "webhook-signature": '`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the endpoint\'s '
    "secret; during a secret rotation two, separated by a space.",
}
"""The Standard Webhooks headers of every delivery, with what they mean."""

DATA = (
    "The event, as its JSON Schema describes it. An endpoint registered with "
    "`personal_data: false` receives names, email addresses, subjects and message text as "
    "null."
)


@cache
def webhook_body_model(model: type[Event]) -> type[BaseModel]:
    """The model of the webhook body that carries events of ``model`` (one class per model)."""
    # Literal of a value known only at run time: mypy accepts only constants in Literal[...].
    event_type: Any = Literal.__getitem__(model.event_type)
    body: type[BaseModel] = create_model(
        f"{model.__name__}Webhook",
        __config__=ConfigDict(frozen=True, extra="ignore"),
        __doc__=f"The body of a `{model.event_type}` webhook. {_summary(model)}",
        type=(
            event_type,
            Field(description="The event's CloudEvents type.", examples=[model.event_type]),
        ),
        timestamp=(
            datetime,
            Field(
                description=(
                    "The event's CloudEvents `time`: when it was published (RFC 3339, UTC)."
                ),
                examples=["2026-03-02T09:15:01Z"],
            ),
        ),
        data=(model, Field(description=DATA)),
    )
    return body


def _summary(model: type[Any]) -> str:
    return (model.__doc__ or model.__name__).strip().splitlines()[0]

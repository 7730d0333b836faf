"""CloudEvents 1.0 binary-mode mapping between events and Kafka records.

The Kafka protocol binding puts the attributes in ``ce_``-prefixed headers, the data as the record
value, and the record key is the ticket id, so one ticket's events stay in order in one partition.
"""

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import ValidationError

from helpline_contracts.events import EVENT_TYPES, Event

__all__ = [
    "CONTENT_TYPE",
    "SPEC_VERSION",
    "TENANT_HEADER",
    "Envelope",
    "Headers",
    "InvalidEventData",
    "KafkaRecord",
    "NotACloudEvent",
    "PoisonMessage",
    "UnknownEventType",
    "derived_event_id",
    "from_record",
    "new_event_id",
    "to_record",
]

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
TENANT_HEADER = "ce_tenantid"
"""The ``tenantid`` extension attribute: the event's tenant, readable without decoding the data."""

Headers = Sequence[tuple[str, bytes]]


class PoisonMessage(Exception):
    """A record that can never be processed, however often it is retried."""


class NotACloudEvent(PoisonMessage):
    """A record without the CloudEvents headers this binding requires."""


class UnknownEventType(PoisonMessage):
    """A CloudEvent whose ``type`` no model of this schema package describes."""


class InvalidEventData(PoisonMessage):
    """A CloudEvent whose data is not valid JSON or fails its model's validation."""


@dataclass(frozen=True)
class KafkaRecord:
    """One record ready for a Kafka producer."""

    topic: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class Envelope:
    """A decoded CloudEvent: its attributes, and the validated event as its data."""

    id: str
    source: str
    type: str
    time: datetime
    subject: str
    event: Event
    extensions: Mapping[str, str] = field(default_factory=dict)


def new_event_id() -> str:
    """Return a fresh, globally unique CloudEvents ``id``."""
    return str(uuid.uuid4())


def derived_event_id(*parts: str) -> str:
    """Return an event id derived from stable parts, so a re-fired cause yields the same id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "helpline:" + ":".join(parts)))


def to_record(
    event: Event,
    *,
    source: str,
    event_id: str | None = None,
    time: datetime | None = None,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> KafkaRecord:
    """Encode ``event`` as a binary-mode CloudEvent on the event's topic, keyed by ticket id."""
    when = time or datetime.now(UTC)
    headers = [
        ("ce_specversion", SPEC_VERSION),
        ("ce_id", event_id or new_event_id()),
        ("ce_source", source),
        ("ce_type", event.event_type),
        ("ce_time", when.isoformat().replace("+00:00", "Z")),
        ("ce_subject", event.ticket_id),
        (TENANT_HEADER, event.tenant_id),
        ("content-type", CONTENT_TYPE),
        *extra_headers,
    ]
    return KafkaRecord(
        topic=event.topic,
        key=event.ticket_id.encode(),
        value=event.model_dump_json(by_alias=True).encode(),
        headers=tuple((name, value.encode()) for name, value in headers),
    )


def _header_map(headers: Headers | Mapping[str, bytes | str]) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    decoded: dict[str, str] = {}
    for name, raw in items:
        try:
            decoded[name.lower()] = raw.decode() if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as error:
            raise NotACloudEvent(f"header {name!r} is not UTF-8") from error
    return decoded


def _validate_lenient(model: type[Event], value: bytes) -> Event:
    """``value`` read as ``json.loads`` reads it (a BOM, UTF-16 or UTF-32 allowed), then
    validated: what pydantic's own parser refuses was accepted before it was used."""
    try:
        return model.model_validate(json.loads(value))
    except (ValueError, UnicodeDecodeError) as error:
        if isinstance(error, ValidationError):
            raise InvalidEventData(f"{model.event_type}: {error}") from error
        raise InvalidEventData(f"data is not JSON: {error}") from error


def from_record(headers: Headers | Mapping[str, bytes | str], value: bytes | None) -> Envelope:
    """Decode a binary-mode CloudEvent; raise a ``PoisonMessage`` naming what is wrong."""
    attributes = _header_map(headers)
    missing = [
        name
        for name in ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time")
        if not attributes.get(name)
    ]
    if missing:
        raise NotACloudEvent(f"missing CloudEvents header(s): {', '.join(missing)}")
    if attributes["ce_specversion"] != SPEC_VERSION:
        raise NotACloudEvent(f"unsupported ce_specversion {attributes['ce_specversion']!r}")
    model = EVENT_TYPES.get(attributes["ce_type"])
    if model is None:
        raise UnknownEventType(f"unknown ce_type {attributes['ce_type']!r}")
    try:
        time = datetime.fromisoformat(attributes["ce_time"].replace("Z", "+00:00"))
    except ValueError as error:
        raise NotACloudEvent(f"ce_time {attributes['ce_time']!r} is not RFC 3339") from error
    if not value:
        raise InvalidEventData("the record has no data")
    try:
        # Parsed and validated in one pass by pydantic (json.loads first took twice as long).
        event = model.model_validate_json(value)
    except ValidationError as error:
        if not any(detail["type"] == "json_invalid" for detail in error.errors()):
            raise InvalidEventData(f"{model.event_type}: {error}") from error
        event = _validate_lenient(model, value)
    extensions = {
        name: text
        for name, text in attributes.items()
        if not name.startswith("ce_") and name != "content-type"
    }
    return Envelope(
        id=attributes["ce_id"],
        source=attributes["ce_source"],
        type=model.event_type,
        time=time,
        subject=attributes.get("ce_subject", event.ticket_id),
        event=event,
        extensions=extensions,
    )

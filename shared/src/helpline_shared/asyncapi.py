"""The AsyncAPI 3 document of Helpline's public Kafka stream, generated from the event models.

Run ``python -m helpline_shared.asyncapi`` to rewrite the committed ``asyncapi.json``;
``tests/contract`` fails when the committed document differs from the generated one.
"""

import json
import sys
from pathlib import Path
from typing import Any

from helpline_shared import topics
from helpline_shared.envelope import CONTENT_TYPE, SPEC_VERSION
from helpline_shared.events import EVENT_TYPES, Event

DOCUMENT_PATH = Path(__file__).parent / "asyncapi.json"
KAFKA_BINDING_VERSION = "0.5.0"
SCHEMA_REF = "#/components/schemas/{model}"

_CHANNELS = {
    topics.TICKETS: ("tickets", "Ticket lifecycle events, keyed by ticket id (intake)."),
    topics.ROUTING: ("routing", "Assignment events, keyed by ticket id (routing)."),
    topics.SLA: ("sla", "SLA clock and escalation events, keyed by ticket id (escalation)."),
    topics.NOTIFICATIONS: ("notifications", "Delivery outcomes, keyed by ticket id (notify)."),
}


def _headers(event_type: str) -> dict[str, Any]:
    """The CloudEvents binary-mode headers of one message type (Kafka protocol binding)."""
    text = {"type": "string"}
    return {
        "type": "object",
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time",
                     "content-type"],
        "properties": {
            "ce_specversion": {"type": "string", "const": SPEC_VERSION},
            "ce_id": {**text, "description": "Unique per event; the same on redelivery."},
            "ce_source": {**text, "description": "The producing service, e.g. /helpline/intake"},
            "ce_type": {"type": "string", "const": event_type},
            "ce_time": {**text, "format": "date-time"},
            "ce_subject": {**text, "description": "The ticket id (also the record key)."},
            "content-type": {"type": "string", "const": CONTENT_TYPE},
            "traceparent": {**text, "description": "W3C trace context, when traced."},
        },
    }


def _payload_schemas(models: list[type[Event]]) -> dict[str, Any]:
    """JSON Schemas of the models, their nested definitions hoisted to components."""
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=SCHEMA_REF, mode="serialization")
        for name, definition in schema.pop("$defs", {}).items():
            schemas[name] = definition
        schemas[model.__name__] = schema
    return dict(sorted(schemas.items()))


def _message(model: type[Event]) -> dict[str, Any]:
    summary = (model.__doc__ or model.__name__).strip().splitlines()[0]
    return {
        "name": model.event_type,
        "title": model.__name__,
        "summary": summary,
        "contentType": CONTENT_TYPE,
        "headers": _headers(model.event_type),
        "payload": {"$ref": SCHEMA_REF.format(model=model.__name__)},
        "bindings": {"kafka": {
            "key": {"type": "string", "description": "The ticket id: one ticket, one partition."},
            "bindingVersion": KAFKA_BINDING_VERSION,
        }},
    }


def build_document(version: str = "1.0.0") -> dict[str, Any]:
    """The AsyncAPI 3.0 document: a channel per public topic, a message per event type."""
    models = [model for model in EVENT_TYPES.values() if model.topic in topics.PUBLIC_TOPICS]
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in topics.PUBLIC_TOPICS:
        name, description = _CHANNELS.get(topic, (topic.replace(".", "_"), f"Events on {topic}."))
        on_topic = sorted((m for m in models if m.topic == topic), key=lambda m: m.__name__)
        channels[name] = {
            "address": topic,
            "title": topic,
            "description": description,
            "messages": {m.__name__: {"$ref": f"#/components/messages/{m.__name__}"}
                         for m in on_topic},
            "bindings": {"kafka": {"topic": topic, "partitions": topics.PARTITIONS,
                                   "bindingVersion": KAFKA_BINDING_VERSION}},
        }
        operations[f"publish_{name}"] = {
            "action": "send",
            "title": f"Helpline publishes on {topic}",
            "channel": {"$ref": f"#/channels/{name}"},
            "messages": [{"$ref": f"#/channels/{name}/messages/{m.__name__}"} for m in on_topic],
        }
    return {
        "asyncapi": "3.0.0",
        "id": "urn:helpline:events",
        "info": {
            "title": "Helpline public event stream",
            "version": version,
            "description": (
                "Every public Helpline event as a CloudEvents 1.0 record in Kafka binary mode: "
                "attributes in ce_ headers, the event as JSON value, the ticket id as key (one "
                "ticket's events stay in order in one partition). Topics are replayable by "
                "offset. Types are versioned in their name; compatible changes only add "
                "optional fields. See docs/partners.md."
            ),
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {"host": "localhost:9092", "protocol": "kafka",
                      "description": "The local development broker (make run)."},
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": {m.__name__: _message(m) for m in sorted(models,
                                                                 key=lambda m: m.__name__)},
            "schemas": _payload_schemas(models),
        },
    }


def render(document: dict[str, Any]) -> str:
    """The document as committed: indented, keys in generation order, trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    """Write the committed AsyncAPI document (``--check``: only compare)."""
    text = render(build_document())
    if "--check" in sys.argv[1:]:
        current = DOCUMENT_PATH.read_text() if DOCUMENT_PATH.exists() else ""
        if current != text:
            print(f"{DOCUMENT_PATH} is stale: run python -m helpline_shared.asyncapi")
            return 1
        return 0
    DOCUMENT_PATH.write_text(text)
    print(f"wrote {DOCUMENT_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The AsyncAPI 3 document of Helpline's Kafka streams, generated from the event models.

Partners read one channel: their tenant's ``helpline.partner.{tenant}``. The internal topics are
documented for Helpline's own services and operators; no partner credential can read them.

Run ``python -m helpline_shared.asyncapi`` to rewrite the committed ``asyncapi.json``;
``tests/contract`` fails when the committed document differs from the generated one.
"""

import json
import sys
from pathlib import Path
from typing import Any

from helpline_shared import topics
from helpline_shared.envelope import CONTENT_TYPE, SPEC_VERSION, TENANT_HEADER
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
PARTNER_CHANNEL = "partner"
PARTNER_ADDRESS = topics.PARTNER_TOPIC_PREFIX + "{tenant}"
PARTNER_RETENTION_MS = 7 * 24 * 3600 * 1000
"""The default retention of a partner topic (notify's HELPLINE_PARTNER_STREAM_RETENTION_MS)."""
SECURITY_SCHEME = "scramSha512OverTls"

_INTERNAL_TAG = {
    "name": "internal",
    "description": ("Read by Helpline's own services only: partner credentials are denied it."),
}
_PARTNER_TAG = {
    "name": "partner",
    "description": (
        "Readable by a partner of the tenant, with the credentials of helpline partners create."
    ),
}


def _headers(event_type: str) -> dict[str, Any]:
    """The CloudEvents binary-mode headers of one message type (Kafka protocol binding)."""
    text = {"type": "string"}
    return {
        "type": "object",
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"],
        "properties": {
            "ce_specversion": {"type": "string", "const": SPEC_VERSION},
            "ce_id": {**text, "description": "Unique per event; the same on redelivery."},
            "ce_source": {**text, "description": "The producing service, e.g. /helpline/intake"},
            "ce_type": {"type": "string", "const": event_type},
            "ce_time": {**text, "format": "date-time"},
            "ce_subject": {**text, "description": "The ticket id (also the record key)."},
            TENANT_HEADER: {
                **text,
                "description": ("The tenant (CloudEvents extension attribute tenantid)."),
            },
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
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": "The ticket id: one ticket, one partition.",
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _partner_channel(models: list[type[Event]]) -> dict[str, Any]:
    """The per-tenant partner stream: every public event of one tenant, forwarded by notify."""
    names = sorted(m.__name__ for m in models)
    return {
        "address": PARTNER_ADDRESS,
        "title": PARTNER_ADDRESS,
        "description": (
            "Every public event of one tenant (all the internal channels' messages), republished "
            "by notify byte for byte: the same key, value and headers (ce_id, traceparent) as "
            "inside Helpline. Keyed by ticket id, so one ticket's events stay in order in one "
            "partition. Delivery is at least once: a record may come twice with the same ce_id, "
            "so dedupe on it. A partner's credentials read this channel for its own tenant "
            "and nothing else."
        ),
        "parameters": {
            "tenant": {
                "description": "The tenant id: 1 to 64 of A-Z, a-z, 0-9, '_' and '-'.",
                "examples": ["demo"],
                "location": f"$message.header#/{TENANT_HEADER}",
            }
        },
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names},
        "tags": [_PARTNER_TAG],
        "bindings": {
            "kafka": {
                "topic": PARTNER_ADDRESS,
                "partitions": topics.PARTITIONS,
                "topicConfiguration": {
                    "cleanup.policy": ["delete"],
                    "retention.ms": PARTNER_RETENTION_MS,
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def build_document(version: str = "1.1.0") -> dict[str, Any]:
    """The AsyncAPI 3.0 document: the partner channel, a channel per internal public topic.

    Only the public topics' events appear: identity's and the audit records stay inside.
    """
    models = [model for model in EVENT_TYPES.values() if model.topic in topics.PUBLIC_TOPICS]
    channels: dict[str, Any] = {PARTNER_CHANNEL: _partner_channel(models)}
    partner_messages = [
        {"$ref": f"#/channels/{PARTNER_CHANNEL}/messages/{m.__name__}"}
        for m in sorted(models, key=lambda m: m.__name__)
    ]
    operations: dict[str, Any] = {
        "receive_partner": {
            "action": "receive",
            "title": "A partner reads its tenant's stream",
            "description": (
                "The one operation open to partners: read helpline.partner.<tenant> with a "
                "consumer group named with the partner's prefix, from offset 0 or a committed "
                "offset. Writes and every other topic are denied."
            ),
            "channel": {"$ref": f"#/channels/{PARTNER_CHANNEL}"},
            "messages": partner_messages,
            "tags": [_PARTNER_TAG],
        },
        "publish_partner": {
            "action": "send",
            "title": "Notify republishes each tenant's events to its partner stream",
            "channel": {"$ref": f"#/channels/{PARTNER_CHANNEL}"},
            "messages": partner_messages,
            "tags": [_INTERNAL_TAG],
        },
    }
    for topic in topics.PUBLIC_TOPICS:
        name, description = _CHANNELS.get(topic, (topic.replace(".", "_"), f"Events on {topic}."))
        on_topic = sorted((m for m in models if m.topic == topic), key=lambda m: m.__name__)
        channels[name] = {
            "address": topic,
            "title": topic,
            "description": description + " Internal: partners read helpline.partner.{tenant}.",
            "messages": {
                m.__name__: {"$ref": f"#/components/messages/{m.__name__}"} for m in on_topic
            },
            "tags": [_INTERNAL_TAG],
            "bindings": {
                "kafka": {
                    "topic": topic,
                    "partitions": topics.PARTITIONS,
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            },
        }
        operations[f"publish_{name}"] = {
            "action": "send",
            "title": f"Helpline publishes on {topic}",
            "channel": {"$ref": f"#/channels/{name}"},
            "messages": [{"$ref": f"#/channels/{name}/messages/{m.__name__}"} for m in on_topic],
            "tags": [_INTERNAL_TAG],
        }
    return {
        "asyncapi": "3.0.0",
        "id": "urn:helpline:events",
        "info": {
            "title": "Helpline event streams",
            "version": version,
            "description": (
                "Every public Helpline event as a CloudEvents 1.0 record in Kafka binary mode: "
                "attributes in ce_ headers, the event as JSON value, the ticket id as key (one "
                "ticket's events stay in order in one partition). Partners read only their "
                "tenant's channel helpline.partner.{tenant} (tag partner), replayable by offset "
                "within its retention; the other channels (tag internal) carry all tenants and "
                "are for Helpline's services only. Types are versioned in their name; compatible "
                "changes only add optional fields. See docs/partners.md."
            ),
            "license": {"name": "Apache-2.0"},
            "tags": [_PARTNER_TAG, _INTERNAL_TAG],
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "production": {
                "host": "{bootstrap}",
                "protocol": "kafka-secure",
                "description": (
                    "A production cluster: SASL_SSL only, SCRAM-SHA-512 over TLS, with the "
                    "credentials and CA certificate that helpline partners create prints."
                ),
                "variables": {
                    "bootstrap": {
                        "description": "The cluster's bootstrap host:port (bootstrap.servers).",
                        "examples": ["kafka.helpline.example.com:9093"],
                    }
                },
                "security": [{"$ref": f"#/components/securitySchemes/{SECURITY_SCHEME}"}],
            },
            "local": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": (
                    "The local development broker (make run; SASL_SSL like production "
                    "with HELPLINE_DEV_KAFKA_SECURITY=sasl_ssl)."
                ),
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": {m.__name__: _message(m) for m in sorted(models, key=lambda m: m.__name__)},
            "schemas": _payload_schemas(models),
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "scramSha512",
                    "description": (
                        "SASL/SCRAM-SHA-512 over TLS (security.protocol=SASL_SSL): one principal "
                        "per partner, allowed to read helpline.partner.<tenant> with consumer "
                        "groups starting with its prefix, and nothing else."
                    ),
                }
            },
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

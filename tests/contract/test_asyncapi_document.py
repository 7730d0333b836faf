"""The AsyncAPI 3 document: valid, as generated, complete, served; partners read one channel."""

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
from fastapi import FastAPI

from helpline_notify.entrypoints.http import asyncapi_router
from helpline_shared import topics
from helpline_shared.asyncapi import DOCUMENT_PATH, PARTNER_CHANNEL, build_document, render
from helpline_shared.events import EVENT_TYPES

ASYNCAPI_3_SCHEMA = Path(__file__).parent / "data" / "asyncapi-3.0.0.schema.json"


def asyncapi_validator() -> jsonschema.protocols.Validator:
    """A validator for AsyncAPI 3.0.0 documents (the schema of the @asyncapi/specs package)."""
    schema = json.loads(ASYNCAPI_3_SCHEMA.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def test_the_committed_document_is_valid_asyncapi_3() -> None:
    document = json.loads(DOCUMENT_PATH.read_text())
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in asyncapi_validator().iter_errors(document)
    ]
    assert errors == []


def test_the_validator_rejects_a_broken_document() -> None:
    document = build_document()
    document["channels"]["tickets"]["address"] = 42
    del document["info"]["title"]
    assert len(list(asyncapi_validator().iter_errors(document))) >= 2


def test_the_committed_document_is_the_generated_one() -> None:
    assert DOCUMENT_PATH.read_text() == render(build_document()), (
        "run: python -m helpline_shared.asyncapi (or make asyncapi)"
    )


def tagged(items: dict[str, Any], tag: str) -> dict[str, Any]:
    """The channels or operations carrying ``tag``."""
    return {
        name: item
        for name, item in items.items()
        if tag in {t["name"] for t in item.get("tags", ())}
    }


def test_every_event_type_is_a_message_on_its_topic_with_kafka_bindings() -> None:
    document = build_document()
    channels = {
        channel["address"]: channel for channel in tagged(document["channels"], "internal").values()
    }
    assert set(channels) == set(topics.PUBLIC_TOPICS)
    messages = document["components"]["messages"]
    partner = document["channels"][PARTNER_CHANNEL]
    public = {
        name: model for name, model in EVENT_TYPES.items() if model.topic in topics.PUBLIC_TOPICS
    }
    for event_type, model in public.items():
        message = messages[model.__name__]
        assert message["name"] == event_type
        assert message["headers"]["properties"]["ce_type"]["const"] == event_type
        assert "ce_tenantid" in message["headers"]["properties"]
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
        assert model.__name__ in channels[model.topic]["messages"]
        assert model.__name__ in partner["messages"], "a partner gets every public event"
    for channel in document["channels"].values():
        assert channel["bindings"]["kafka"]["topic"] == channel["address"]


def test_partners_may_only_receive_their_tenants_channel() -> None:
    document = build_document()
    partner_channels = tagged(document["channels"], "partner")
    assert list(partner_channels) == [PARTNER_CHANNEL]
    channel = partner_channels[PARTNER_CHANNEL]
    assert channel["address"].replace("{tenant}", "acme") == topics.partner_topic("acme")
    assert channel["parameters"]["tenant"]["location"] == "$message.header#/ce_tenantid"
    assert channel["bindings"]["kafka"]["topicConfiguration"]["retention.ms"] == 7 * 86_400_000
    partner_operations = tagged(document["operations"], "partner")
    assert [(o["action"], o["channel"]["$ref"]) for o in partner_operations.values()] == [
        ("receive", f"#/channels/{PARTNER_CHANNEL}")
    ]
    assert set(tagged(document["channels"], "internal")) | {PARTNER_CHANNEL} == set(
        document["channels"]
    ), "every other channel is marked internal"


def test_the_production_server_is_kafka_over_tls_with_scram_sha_512() -> None:
    document = build_document()
    server = document["servers"]["production"]
    assert server["protocol"] == "kafka-secure"
    assert server["host"] == "{bootstrap}" and "bootstrap" in server["variables"]
    [requirement] = server["security"]
    scheme_name = requirement["$ref"].rsplit("/", 1)[1]
    assert document["components"]["securitySchemes"][scheme_name]["type"] == "scramSha512"


async def test_notify_serves_the_document() -> None:
    app = FastAPI()
    app.include_router(asyncapi_router())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://notify"
    ) as client:
        response = await client.get("/v1/asyncapi.json")
    assert response.status_code == 200
    assert response.json() == json.loads(DOCUMENT_PATH.read_text())


def test_internal_topics_stay_out_of_the_partner_document() -> None:
    document = build_document()
    messages = document["components"]["messages"]
    internal = [
        model.__name__ for model in EVENT_TYPES.values() if model.topic in topics.INTERNAL_TOPICS
    ]
    assert internal and not set(internal) & set(messages)

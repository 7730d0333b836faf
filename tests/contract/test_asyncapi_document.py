"""The AsyncAPI 3 document of the partner stream: valid, as generated, complete, served."""

import json
from pathlib import Path

import httpx
import jsonschema
from fastapi import FastAPI

from helpline_notify.entrypoints.http import asyncapi_router
from helpline_shared import topics
from helpline_shared.asyncapi import DOCUMENT_PATH, build_document, render
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
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in asyncapi_validator().iter_errors(document)]
    assert errors == []


def test_the_validator_rejects_a_broken_document() -> None:
    document = build_document()
    document["channels"]["tickets"]["address"] = 42
    del document["info"]["title"]
    assert len(list(asyncapi_validator().iter_errors(document))) >= 2


def test_the_committed_document_is_the_generated_one() -> None:
    assert DOCUMENT_PATH.read_text() == render(build_document()), (
        "run: python -m helpline_shared.asyncapi (or make asyncapi)")


def test_every_event_type_is_a_message_on_its_topic_with_kafka_bindings() -> None:
    document = build_document()
    channels = {channel["address"]: channel for channel in document["channels"].values()}
    assert set(channels) == set(topics.PUBLIC_TOPICS)
    messages = document["components"]["messages"]
    public = {name: model for name, model in EVENT_TYPES.items()
              if model.topic in topics.PUBLIC_TOPICS}
    for event_type, model in public.items():
        message = messages[model.__name__]
        assert message["name"] == event_type
        assert message["headers"]["properties"]["ce_type"]["const"] == event_type
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
        assert model.__name__ in channels[model.topic]["messages"]
    for address, channel in channels.items():
        assert channel["bindings"]["kafka"]["topic"] == address


async def test_notify_serves_the_document() -> None:
    app = FastAPI()
    app.include_router(asyncapi_router())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://notify") as client:
        response = await client.get("/v1/asyncapi.json")
    assert response.status_code == 200
    assert response.json() == json.loads(DOCUMENT_PATH.read_text())


def test_internal_topics_stay_out_of_the_partner_document() -> None:
    document = build_document()
    messages = document["components"]["messages"]
    internal = [model.__name__ for model in EVENT_TYPES.values()
                if model.topic in topics.INTERNAL_TOPICS]
    assert internal and not set(internal) & set(messages)

"""The committed JSON Schemas are the contract with partners: changes must stay compatible."""

from collections.abc import Iterator
from typing import Any

import pytest

from helpline_contracts import EVENT_TYPES, topics
from helpline_contracts.schema_export import (
    committed_schemas,
    current_schemas,
    incompatibilities,
    schema_id,
)

DOCUMENTED_SHARE = 0.95
"""The share of fields that must carry a description and an example (the issue's floor)."""


def test_every_event_has_its_schema_committed_and_current() -> None:
    committed, current = committed_schemas(), current_schemas()
    assert set(committed) == set(current), "run `make schemas` and commit the result"
    stale = [name for name in current if committed[name] != current[name]]
    assert not stale, f"schemas changed; check compatibility, then `make schemas`: {stale}"


@pytest.mark.parametrize("event_type", sorted(committed_schemas()))
def test_the_current_model_is_compatible_with_the_committed_schema(event_type: str) -> None:
    assert incompatibilities(committed_schemas()[event_type], current_schemas()[event_type]) == []


def test_removing_a_field_is_incompatible() -> None:
    old = {"properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]}
    new = {"properties": {"a": {"type": "string"}}, "required": ["a"]}
    assert incompatibilities(old, new) == ["field 'b' was removed"]


def test_changing_a_type_or_requiring_a_field_is_incompatible() -> None:
    old = {"properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]}
    new = {
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    }
    assert incompatibilities(old, new) == [
        "field 'a' changed its schema",
        "field 'b' became required",
    ]


def test_adding_an_optional_field_is_compatible() -> None:
    old = {"properties": {"a": {"type": "string"}}, "required": ["a"]}
    new = {"properties": {"a": {"type": "string"}, "c": {"type": "string"}}, "required": ["a"]}
    assert incompatibilities(old, new) == []


def test_adding_or_changing_descriptions_examples_titles_and_ids_is_compatible() -> None:
    old = {
        "title": "A",
        "properties": {"a": {"type": "string", "title": "A"}},
        "$defs": {"D": {"properties": {"x": {"type": "integer"}}}},
    }
    new = {
        "$id": "urn:helpline:event:a",
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "A v1",
        "description": "Published when ...",
        "properties": {
            "a": {
                "type": "string",
                "title": "Alpha",
                "description": "The a.",
                "examples": ["x"],
                "$comment": "why",
            }
        },
        "$defs": {
            "D": {"description": "A D.", "properties": {"x": {"type": "integer", "examples": [1]}}}
        },
    }
    assert incompatibilities(old, new) == []


def test_a_validation_change_under_annotations_is_still_incompatible() -> None:
    old = {
        "properties": {"a": {"type": "string", "maxLength": 10}},
        "$defs": {"D": {"properties": {"x": {"type": "integer"}}}},
    }
    new = {
        "properties": {"a": {"type": "string", "maxLength": 5, "description": "The a."}},
        "$defs": {
            "D": {
                "description": "A D.",
                "properties": {"x": {"type": "string", "description": "An x."}},
            }
        },
    }
    assert incompatibilities(old, new) == [
        "field 'a' changed its schema",
        "a shared definition ($defs) changed",
    ]


def test_fields_named_like_annotations_are_still_compared() -> None:
    old = {"properties": {"description": {"type": "string"}, "title": {"type": "string"}}}
    new = {"properties": {"title": {"type": "integer"}}}
    assert incompatibilities(old, new) == [
        "field 'description' was removed",
        "field 'title' changed its schema",
    ]


def fields(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every field of ``schema``: its own properties and those of its nested definitions."""
    for name, definition in schema.get("properties", {}).items():
        yield name, definition
    for model, nested in schema.get("$defs", {}).items():
        for name, definition in nested.get("properties", {}).items():
            yield f"{model}.{name}", definition


def documented_share(key: str) -> tuple[float, list[str]]:
    """The share of fields of every committed schema that carry ``key``, and those that do not."""
    counted, lacking = 0, []
    for event_type, schema in committed_schemas().items():
        for name, definition in fields(schema):
            counted += 1
            if not definition.get(key):
                lacking.append(f"{event_type}: {name}")
    return 1 - len(lacking) / counted, lacking


def test_fields_are_counted_nested_included() -> None:
    created = dict(fields(committed_schemas()["helpline.ticket.created.v1"]))
    assert {"requester", "Requester.email", "Requester.name"} <= set(created)
    assert sum(1 for schema in committed_schemas().values() for _ in fields(schema)) > 250


@pytest.mark.parametrize("key", ["description", "examples"])
def test_nearly_every_field_has_a_description_and_an_example(key: str) -> None:
    share, lacking = documented_share(key)
    assert share >= DOCUMENTED_SHARE, f"{share:.1%} of fields have a {key}; lacking: {lacking}"


def test_every_schema_has_its_id_and_dialect() -> None:
    for event_type, schema in committed_schemas().items():
        assert schema["$id"] == schema_id(event_type) == f"urn:helpline:event:{event_type}"
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    ids = [schema["$id"] for schema in committed_schemas().values()]
    assert len(set(ids)) == len(ids) == len(EVENT_TYPES)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_each_model_says_who_publishes_it_and_when(event_type: str) -> None:
    model = EVENT_TYPES[event_type]
    producer = topics.PRODUCERS[model.topic]
    assert f"Published by {producer} " in " ".join((model.__doc__ or "").split()), (
        f"{model.__name__}'s docstring must say when {producer} publishes it"
    )

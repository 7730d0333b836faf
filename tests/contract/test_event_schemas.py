"""The committed JSON Schemas are the contract with partners: changes must stay compatible."""

import pytest

from helpline_shared.schema_export import committed_schemas, current_schemas, incompatibilities


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
    new = {"properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
           "required": ["a", "b"]}
    assert incompatibilities(old, new) == ["field 'a' changed its schema",
                                           "field 'b' became required"]


def test_adding_an_optional_field_is_compatible() -> None:
    old = {"properties": {"a": {"type": "string"}}, "required": ["a"]}
    new = {"properties": {"a": {"type": "string"}, "c": {"type": "string"}}, "required": ["a"]}
    assert incompatibilities(old, new) == []

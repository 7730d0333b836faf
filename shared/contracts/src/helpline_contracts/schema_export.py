"""Export the JSON Schema of every event, and tell compatible changes from breaking ones.

``python -m helpline_contracts.schema_export`` rewrites ``helpline_contracts/schemas/``; the
contract test fails when the committed schemas are stale or when a change would break a consumer.

Each schema's ``$id`` is ``urn:helpline:event:<CloudEvents type>``: a name, not a location. A URN
needs no host that Helpline would have to own and keep serving, validators never try to fetch it,
and it stays the same wherever the repository or the documentation moves. Its last part is the
event's ``ce_type``, so a consumer goes from a record's header to its schema without a table.
"""

import json
from pathlib import Path
from typing import Any

from helpline_contracts.events import EVENT_TYPES

__all__ = [
    "ANNOTATIONS",
    "JSON_SCHEMA_DIALECT",
    "SCHEMA_DIR",
    "SCHEMA_ID_PREFIX",
    "IncompatibleChange",
    "JsonSchema",
    "committed_schemas",
    "current_schemas",
    "export",
    "incompatibilities",
    "schema_id",
    "without_annotations",
]

SCHEMA_DIR = Path(__file__).parent / "schemas"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID_PREFIX = "urn:helpline:event:"

ANNOTATIONS = frozenset({"title", "description", "examples", "$comment", "$id", "$schema"})
"""JSON Schema keywords that document a value without constraining it: changing them is safe."""

JsonSchema = dict[str, Any]


def schema_id(event_type: str) -> str:
    """The ``$id`` of the JSON Schema of ``event_type``."""
    return SCHEMA_ID_PREFIX + event_type


def current_schemas() -> dict[str, JsonSchema]:
    """The JSON Schema of each event model, by event type."""
    return {
        event_type: {
            "$schema": JSON_SCHEMA_DIALECT,
            "$id": schema_id(event_type),
            **model.model_json_schema(by_alias=True, mode="serialization"),
        }
        for event_type, model in sorted(EVENT_TYPES.items())
    }


def committed_schemas(directory: Path = SCHEMA_DIR) -> dict[str, JsonSchema]:
    """The schemas committed in ``directory``, by event type."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))}


def without_annotations(schema: Any) -> Any:
    """``schema`` with every annotation keyword removed, at any depth (property names kept)."""
    if isinstance(schema, list):
        return [without_annotations(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: (
            {name: without_annotations(value) for name, value in definition.items()}
            if key in ("properties", "$defs") and isinstance(definition, dict)
            else without_annotations(definition)
        )
        for key, definition in schema.items()
        if key not in ANNOTATIONS
    }


def incompatibilities(old: JsonSchema, new: JsonSchema) -> list[str]:
    """Why ``new`` would break a consumer or producer of ``old`` (empty when compatible).

    Only what validates counts: titles, descriptions and examples may change freely.
    """
    old, new = without_annotations(old), without_annotations(new)
    problems: list[str] = []
    old_properties: dict[str, Any] = old.get("properties", {})
    new_properties: dict[str, Any] = new.get("properties", {})
    for name, definition in old_properties.items():
        if name not in new_properties:
            problems.append(f"field {name!r} was removed")
        elif new_properties[name] != definition:
            problems.append(f"field {name!r} changed its schema")
    added_required = set(new.get("required", [])) - set(old.get("required", []))
    for name in sorted(added_required):
        problems.append(f"field {name!r} became required")
    if old.get("$defs", {}) != {
        key: value for key, value in new.get("$defs", {}).items() if key in old.get("$defs", {})
    }:
        problems.append("a shared definition ($defs) changed")
    return problems


class IncompatibleChange(Exception):
    """A model change that would break consumers of its committed schema."""


def export(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every current schema to ``directory``; return the files written.

    Refuses to overwrite a committed schema with an incompatible one: such a change is a new
    event type (``...v2``) published alongside the old one.
    """
    directory.mkdir(parents=True, exist_ok=True)
    committed = committed_schemas(directory)
    current = current_schemas()
    problems = {
        event_type: incompatibilities(committed[event_type], schema)
        for event_type, schema in current.items()
        if event_type in committed
    }
    breaking = {event_type: found for event_type, found in problems.items() if found}
    if breaking:
        raise IncompatibleChange(f"incompatible event changes (publish a new version): {breaking}")
    written = []
    for event_type, schema in current.items():
        path = directory / f"{event_type}.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in export():
        print(path)

"""Export the JSON Schema of every event, and tell compatible changes from breaking ones.

``python -m helpline_shared.schema_export`` rewrites ``helpline_shared/schemas/``; the contract
test fails when the committed schemas are stale or when a change would break a consumer.
"""

import json
from pathlib import Path
from typing import Any

from helpline_shared.events import EVENT_TYPES

SCHEMA_DIR = Path(__file__).parent / "schemas"

JsonSchema = dict[str, Any]


def current_schemas() -> dict[str, JsonSchema]:
    """The JSON Schema of each event model, by event type."""
    return {
        event_type: model.model_json_schema(by_alias=True, mode="serialization")
        for event_type, model in sorted(EVENT_TYPES.items())
    }


def committed_schemas(directory: Path = SCHEMA_DIR) -> dict[str, JsonSchema]:
    """The schemas committed in ``directory``, by event type."""
    return {
        path.stem: json.loads(path.read_text())
        for path in sorted(directory.glob("*.json"))
    }


def incompatibilities(old: JsonSchema, new: JsonSchema) -> list[str]:
    """Why ``new`` would break a consumer or producer of ``old`` (empty when compatible)."""
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

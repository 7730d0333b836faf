"""How listing commands print: an aligned table for people, or JSON for scripts (``-o json``)."""

import enum
import json
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer

MAX_CELL = 48
"""Longer cells are cut in a table (JSON output is never cut)."""


class Format(enum.StrEnum):
    """The output format of a listing."""

    table = "table"
    json = "json"


Output = Annotated[
    Format,
    typer.Option(
        "--output", "-o", help="table (for people) or json (the whole answer, for scripts)"
    ),
]


def echo_json(value: Any) -> None:
    """Print ``value`` as indented JSON with sorted keys."""
    typer.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def scalar_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The keys whose values are scalars in the rows, in first-seen order."""
    columns: dict[str, None] = {}
    for row in rows:
        for key, value in row.items():
            if not isinstance(value, dict | list):
                columns.setdefault(key)
    return list(columns)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """``rows`` as an aligned text table with a header line (no line at all when empty)."""
    if not rows:
        return ""
    names = list(columns) if columns is not None else scalar_columns(rows)
    cells = [[name.upper() for name in names]]
    cells += [[_cell(row.get(name)) for name in names] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(names))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )


def listing_rows(answer: Any) -> list[Mapping[str, Any]]:
    """The rows of a service's list answer (a JSON array, or a page with ``items``)."""
    if isinstance(answer, dict):
        answer = answer.get("items", [answer])
    if not isinstance(answer, list):
        return []
    return [row if isinstance(row, dict) else {"value": row} for row in answer]


def emit_listing(answer: Any, output: Format) -> None:
    """Print a service's list answer as a table, or as JSON exactly as the service sent it."""
    if output is Format.json:
        echo_json(answer)
        return
    rows = listing_rows(answer)
    if rows:
        typer.echo(table(rows))
    typer.echo(f"{len(rows)} item(s)")
    if isinstance(answer, dict) and answer.get("next_cursor"):
        typer.echo(f"more: next cursor {answer['next_cursor']}")

"""A clock's history as people read it: what happened when, and why, oldest first."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_EVENTS = {
    "started": "started",
    "paused": "paused",
    "resumed": "resumed",
    "breached": "breached",
    "recomputed": "recomputed",
}


@dataclass(frozen=True)
class HistoryEntry:
    """One thing that happened to a clock, as the stored entry said it, and its ``event``."""

    at: datetime
    event: str
    """started, paused, resumed, warned, breached, met, stopped (late), escalated, recomputed."""
    detail: str
    stored: Mapping[str, Any]


def _event(what: str, breached_in_cycle: bool) -> str:
    if what == "stopped":
        return "stopped" if breached_in_cycle else "met"
    if what.startswith("warning-"):
        return "warned"
    if what.startswith("level-"):
        return "escalated"
    return _EVENTS.get(what, what)


def history_entries(stored: Iterable[Mapping[str, Any]]) -> list[HistoryEntry]:
    """The stored entries of a clock (in the order noted), with event and detail, oldest first."""
    entries: list[HistoryEntry] = []
    breached_cycles: set[object] = set()
    for entry in stored:
        what, cycle = str(entry.get("what", "")), entry.get("cycle")
        event = _event(what, cycle in breached_cycles)
        if what == "breached":
            breached_cycles.add(cycle)
        detail = str(entry.get("reason", ""))
        if event == "stopped":
            detail = f"{detail}, after the deadline" if detail else "after the deadline"
        entries.append(
            HistoryEntry(
                at=datetime.fromisoformat(str(entry["at"])),
                event=event,
                detail=detail,
                stored=entry,
            )
        )
    # A late timer notes a breach at its deadline after the fact; the sort is stable.
    return sorted(entries, key=lambda entry: entry.at)

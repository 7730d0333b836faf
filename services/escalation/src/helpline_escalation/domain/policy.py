"""SLA targets per priority, and how a target reads in a reason."""

from collections.abc import Mapping

from helpline_shared.events import Priority

DEFAULT_FIRST_RESPONSE_TARGETS: Mapping[Priority, int] = {
    "urgent": 60 * 60,
    "high": 4 * 60 * 60,
    "normal": 8 * 60 * 60,
    "low": 24 * 60 * 60,
}
"""Seconds to a first public agent reply, by priority (around the clock; no calendars yet)."""


def describe_duration(seconds: int) -> str:
    """Write a duration compactly, largest units first: ``4h``, ``1d2h``, ``90s`` -> ``1m30s``."""
    if seconds <= 0:
        return "0s"
    parts = []
    remaining = seconds
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)

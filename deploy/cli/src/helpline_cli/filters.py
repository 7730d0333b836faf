"""What operators type to pick records: a point in time (``--since``) and dead-letter filters."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import typer

from helpline_cli.records import DeadLetter

_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, now: datetime) -> datetime:
    """``text`` as an aware instant: ISO 8601 with an offset, or an age such as 30m, 24h, 7d."""
    relative = _RELATIVE.match(text.strip())
    if relative:
        return now - timedelta(**{_UNITS[relative[2]]: int(relative[1])})
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise typer.BadParameter(
            f"{text!r}: give an ISO 8601 time with its offset (2026-05-01T08:00:00+00:00) or "
            "an age (30m, 24h, 7d)",
            param_hint="--since",
        ) from error
    if instant.tzinfo is None:
        raise typer.BadParameter(f"{text!r} has no offset: add Z or +HH:MM", param_hint="--since")
    return instant.astimezone(UTC)


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which dead letters to act on; every given criterion must hold (none given: all)."""

    types: tuple[str, ...] = ()
    """CloudEvents types (the ``ce_type`` header), any of them."""
    keys: tuple[str, ...] = ()
    """Record keys (a ticket id for ticket events), any of them."""
    error: str | None = None
    """Text the recorded error contains (case-insensitive)."""
    since: datetime | None = None
    """Dead-lettered at or after this instant."""
    positions: tuple[str, ...] = ()
    """PARTITION:OFFSET of single dead letters, any of them."""

    def selects(self, letter: DeadLetter) -> bool:
        """Whether ``letter`` passes every criterion."""
        key = (letter.key or b"").decode(errors="replace")
        return (
            (not self.types or letter.header("ce_type") in self.types)
            and (not self.keys or key in self.keys)
            and (
                self.error is None
                or self.error.lower() in letter.header("helpline-dlq-error").lower()
            )
            and (self.since is None or letter.time >= self.since)
            and (not self.positions or f"{letter.partition}:{letter.offset}" in self.positions)
        )

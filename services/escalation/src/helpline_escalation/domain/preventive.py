"""Preventive maintenance: recurring tickets on a cron schedule in an IANA time zone.

Each occurrence is opened once: its ticket is requested with an idempotency key derived from the
schedule and the occurrence, so a retry (after a crash or with another replica) returns the
ticket of the first request. An occurrence missed while escalation was down is opened late, once,
and tagged ``late-preventive``. A paused schedule fires nothing; resumed, it fires from the next
occurrence on: the occurrences that fell in the pause are skipped, never opened late.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter  # type: ignore[import-untyped]  # untyped

from helpline_escalation.domain.errors import InvalidSchedule

FREQUENCY_SAMPLES = 50
"""Occurrences looked at to find a schedule's shortest interval (enough for every pattern
that repeats within an hour, a day or a month at the start of its range)."""
LATE_TAG = "late-preventive"
PREVENTIVE_TAG = "preventive"


@dataclass(frozen=True)
class TicketTemplate:
    """The ticket each occurrence opens."""

    subject: str
    description: str
    requester_email: str
    requester_name: str | None = None
    priority: str = "normal"
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class PreventiveSchedule:
    """A customer's recurring maintenance ticket: cron expression, zone and ticket template."""

    tenant_id: str
    schedule_id: str
    cron: str
    time_zone: str
    ticket: TicketTemplate
    version: int = 1
    paused_at: datetime | None = None

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise InvalidSchedule(f"unknown time zone {self.time_zone!r}") from error
        if len(self.cron.split()) not in (5, 6) or not croniter.is_valid(self.cron):
            raise InvalidSchedule(f"invalid cron expression {self.cron!r}")

    def next_occurrence(self, after: datetime) -> datetime:
        """The first occurrence strictly after ``after``, in UTC (wall clock of the zone)."""
        return self._occurrences(after, 1)[0]

    def check_frequency(self, after: datetime, minimum: timedelta) -> None:
        """Refuse (``InvalidSchedule``) occurrences closer than ``minimum``, or none at all."""
        occurrences = self._occurrences(after, FREQUENCY_SAMPLES)
        shortest = min(
            (later - earlier for earlier, later in pairwise(occurrences)), default=minimum
        )
        if shortest < minimum:
            raise InvalidSchedule(
                f"fires every {shortest.total_seconds():g} s; the shortest interval allowed "
                f"is {minimum.total_seconds():g} s"
            )

    def _occurrences(self, after: datetime, count: int) -> list[datetime]:
        local = after.astimezone(ZoneInfo(self.time_zone))
        try:
            iterator = croniter(self.cron, local)
            return [iterator.get_next(datetime).astimezone(UTC) for _ in range(count)]
        except (CroniterError, OverflowError) as error:
            raise InvalidSchedule(f"{self.cron!r} never fires (an impossible date?)") from error

    def idempotency_key(self, occurrence: datetime) -> str:
        """The same key for every attempt at opening ``occurrence``'s ticket."""
        return f"preventive:{self.schedule_id}:{occurrence.astimezone(UTC).isoformat()}"

    def ticket_request(
        self, occurrence: datetime, *, now: datetime, late_after: timedelta
    ) -> dict[str, Any]:
        """The body of intake's ``POST /v1/tickets`` for ``occurrence``, marked late if it is."""
        late = now - occurrence > late_after
        zone = ZoneInfo(self.time_zone)
        when = occurrence.astimezone(zone).isoformat()
        note = f"\n\nPreventive maintenance occurrence: {when} ({self.time_zone})."
        if late:
            note += " Created late: Helpline was not running at the scheduled time."
        tags = [*self.ticket.tags, PREVENTIVE_TAG, *([LATE_TAG] if late else [])]
        requester: dict[str, Any] = {"email": self.ticket.requester_email}
        if self.ticket.requester_name:
            requester["name"] = self.ticket.requester_name
        return {
            "subject": self.ticket.subject,
            "description": self.ticket.description + note,
            "requester": requester,
            "priority": self.ticket.priority,
            "type": "preventive",
            "tags": list(dict.fromkeys(tags)),
        }


class TicketOpener(Protocol):
    """Opens a ticket in intake, idempotently."""

    async def open_ticket(self, tenant_id: str, body: dict[str, Any], idempotency_key: str) -> str:
        """Open the ticket (or find the one the key opened before); return its id."""
        ...

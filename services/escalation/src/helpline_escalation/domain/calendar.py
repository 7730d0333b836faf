"""Business calendars: when the SLA clock runs, and how business time adds up.

Business time is elapsed real time inside working periods. Working intervals are wall-clock
times in the calendar's IANA zone, so "09:00-17:00" stays 09:00-17:00 across DST changes; an
interval whose end is not after its start runs past midnight into the next day. A holiday removes
the intervals that start on it. No deadline lies further than ``HORIZON`` from its start.
"""

from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from helpline_escalation.domain.errors import CalendarHasNoWorkingHours, UnknownTimeZone

ONE_DAY = timedelta(days=1)
HORIZON = timedelta(days=100 * 365)
"""No deadline lies further from its start: beyond it, business time on a sparse calendar (or
a target near the largest accepted) means "never" in practice, and dates stay far from the
end of ``datetime``."""


@dataclass(frozen=True)
class WorkingInterval:
    """Working hours within one weekday, in local wall-clock time."""

    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        """True when the interval ends on the next day (an end of 00:00 means midnight)."""
        return self.end <= self.start


@dataclass(frozen=True)
class Holiday:
    """A day or an inclusive range of days on which no working interval starts."""

    first: date
    last: date
    name: str = ""

    def covers(self, day: date) -> bool:
        """True when ``day`` is within the holiday."""
        return self.first <= day <= self.last


@dataclass(frozen=True)
class BusinessCalendar:
    """A time zone, weekly working intervals (0 = Monday) and holidays; or around the clock."""

    name: str
    time_zone: str = "UTC"
    weekly_hours: Mapping[int, tuple[WorkingInterval, ...]] = field(default_factory=dict)
    holidays: tuple[Holiday, ...] = ()
    always_open: bool = False
    _holiday_firsts: tuple[date, ...] = field(init=False, repr=False, compare=False)
    _holiday_lasts_so_far: tuple[date, ...] = field(init=False, repr=False, compare=False)
    """The latest ``last`` among holidays sorted by ``first``, up to each: one bisect per day."""

    def __post_init__(self) -> None:
        ordered = sorted(self.holidays, key=lambda holiday: holiday.first)
        object.__setattr__(self, "_holiday_firsts", tuple(h.first for h in ordered))
        object.__setattr__(
            self, "_holiday_lasts_so_far", tuple(accumulate((h.last for h in ordered), max))
        )
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise UnknownTimeZone(self.time_zone) from error
        if not self.always_open and not any(self.weekly_hours.values()):
            raise CalendarHasNoWorkingHours(self.name)

    @classmethod
    def around_the_clock(cls, name: str = "24/7") -> "BusinessCalendar":
        """A calendar that never closes: business time is elapsed time."""
        return cls(name=name, always_open=True)

    def is_holiday(self, day: date) -> bool:
        """True when ``day`` (local) is a holiday."""
        started = bisect_right(self._holiday_firsts, day)
        return started > 0 and self._holiday_lasts_so_far[started - 1] >= day

    def _periods_of_day(self, day: date) -> list[tuple[datetime, datetime]]:
        if self.is_holiday(day):
            return []
        zone = ZoneInfo(self.time_zone)
        periods = []
        for interval in self.weekly_hours.get(day.weekday(), ()):
            end_day = day + ONE_DAY if interval.crosses_midnight else day
            start = datetime.combine(day, interval.start, tzinfo=zone).astimezone(UTC)
            end = datetime.combine(end_day, interval.end, tzinfo=zone).astimezone(UTC)
            if end > start:
                periods.append((start, end))
        return sorted(periods)

    def working_periods(
        self, since: datetime, until: datetime | None = None
    ) -> Iterator[tuple[datetime, datetime]]:
        """Working periods (UTC) from ``since`` on, in order, never overlapping.

        The first one is cut at ``since``; adjacent periods may follow each other without a gap.
        With ``until``, none starts after the day of ``until`` (so holidays cannot make the
        search run to the end of time).
        """
        since = since.astimezone(UTC)
        if self.always_open:
            yield since, datetime.max.replace(tzinfo=UTC)
            return
        # The day before may hold an interval that runs past midnight into ``since``'s day.
        day = since.astimezone(ZoneInfo(self.time_zone)).date() - ONE_DAY
        covered_until = since
        last_day = (until or horizon_of(since)).astimezone(ZoneInfo(self.time_zone)).date()
        while day <= last_day:
            for start, end in self._periods_of_day(day):
                # Intervals start in order; any overlap with an earlier one is already counted.
                start = max(start, covered_until)
                if end > start:
                    yield start, end
                    covered_until = end
            day += ONE_DAY

    def add_business_time(self, start: datetime, seconds: float) -> datetime:
        """The instant at which ``seconds`` of business time have passed since ``start``.

        Never later than ``HORIZON`` after ``start`` (nor than the last representable day).
        """
        start = start.astimezone(UTC)
        if seconds <= 0:
            return start
        horizon = horizon_of(start)
        remaining = timedelta(seconds=min(seconds, HORIZON.total_seconds()))
        if self.always_open:
            return start + remaining if remaining <= horizon - start else horizon
        for period_start, period_end in self.working_periods(start, horizon):
            if period_start >= horizon:
                break
            available = period_end - period_start
            if remaining <= available:
                return min(period_start + remaining, horizon)
            remaining -= available
        return horizon

    def business_seconds_between(self, start: datetime, end: datetime) -> float:
        """Business time from ``start`` to ``end``, in seconds (0 if ``end`` is not after it)."""
        if end <= start:
            return 0.0
        if self.always_open:
            return (end - start).total_seconds()
        total = timedelta()
        for period_start, period_end in self.working_periods(start, end):
            if period_start >= end:
                break
            total += min(period_end, end) - period_start
        return total.total_seconds()

    def is_working(self, at: datetime) -> bool:
        """True when ``at`` lies inside a working period."""
        for period_start, period_end in self.working_periods(at, at):
            return period_start <= at < period_end
        return False


def horizon_of(start: datetime) -> datetime:
    """``HORIZON`` after ``start``, or a year before the end of time if that is sooner."""
    last = datetime.max.replace(tzinfo=UTC) - timedelta(days=366)
    return start + HORIZON if start <= last - HORIZON else last

"""Business-calendar arithmetic, property-tested across DST changes, holidays and long targets."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpline_escalation.domain.calendar import BusinessCalendar, Holiday, WorkingInterval
from helpline_escalation.domain.errors import CalendarHasNoWorkingHours, UnknownTimeZone

ZONES = (
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "America/Santiago",
    "Asia/Kolkata",
)
# DST changes in the zones above, as UTC instants: starts are drawn around them.
TRANSITIONS = (
    datetime(2026, 3, 8, 7, tzinfo=UTC),
    datetime(2026, 11, 1, 6, tzinfo=UTC),
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2026, 4, 4, 16, tzinfo=UTC),
    datetime(2026, 10, 3, 16, tzinfo=UTC),
    datetime(2026, 4, 5, 3, tzinfo=UTC),
    datetime(2026, 9, 6, 4, tzinfo=UTC),
    datetime(2026, 12, 31, 12, tzinfo=UTC),
)
WEEKDAYS = range(5)
NINE_TO_FIVE = {day: (WorkingInterval(time(9), time(17)),) for day in WEEKDAYS}
MICROSECOND = timedelta(microseconds=1)


def office(zone: str, holidays: tuple[Holiday, ...] = ()) -> BusinessCalendar:
    """Weekdays 09:00-17:00 in ``zone``."""
    return BusinessCalendar(
        name="office", time_zone=zone, weekly_hours=NINE_TO_FIVE, holidays=holidays
    )


clock_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
intervals = st.builds(WorkingInterval, clock_times, clock_times)
weekly_hours = st.dictionaries(
    st.integers(0, 6), st.lists(intervals, min_size=1, max_size=3).map(tuple), min_size=1
)
holiday_ranges = st.lists(
    st.builds(
        lambda first, days: Holiday(first, first + timedelta(days=days)),
        st.dates(date(2026, 1, 1), date(2027, 3, 1)),
        st.integers(0, 14),
    ),
    max_size=4,
).map(tuple)
calendars = st.builds(
    lambda zone, hours, holidays: BusinessCalendar(
        name="drawn", time_zone=zone, weekly_hours=hours, holidays=holidays
    ),
    st.sampled_from(ZONES),
    weekly_hours,
    holiday_ranges,
)
starts = st.builds(
    lambda transition, minutes: transition + timedelta(minutes=minutes),
    st.sampled_from(TRANSITIONS),
    st.integers(-4 * 24 * 60, 4 * 24 * 60),
)
targets = st.one_of(
    st.integers(1, 12 * 3600), st.integers(12 * 3600, 6 * 7 * 24 * 3600)
)  # up to six weeks


@settings(max_examples=150, deadline=None)
@given(calendar=calendars, start=starts, seconds=targets)
def test_the_business_time_to_a_deadline_is_its_target(
    calendar: BusinessCalendar, start: datetime, seconds: int
) -> None:
    deadline = calendar.add_business_time(start, seconds)
    assert deadline > start
    assert calendar.business_seconds_between(start, deadline) == pytest.approx(seconds, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(calendar=calendars, start=starts, seconds=targets)
def test_a_deadline_falls_at_the_end_of_working_time(
    calendar: BusinessCalendar, start: datetime, seconds: int
) -> None:
    deadline = calendar.add_business_time(start, seconds)
    assert calendar.is_working(deadline - MICROSECOND)


@settings(max_examples=100, deadline=None)
@given(calendar=calendars, start=starts, first=targets, extra=st.integers(1, 3 * 24 * 3600))
def test_a_longer_target_never_gives_an_earlier_deadline(
    calendar: BusinessCalendar, start: datetime, first: int, extra: int
) -> None:
    assert calendar.add_business_time(start, first + extra) > calendar.add_business_time(
        start, first
    )


@settings(max_examples=100, deadline=None)
@given(zone=st.sampled_from(ZONES), start=starts, seconds=targets)
def test_whole_days_in_any_zone_count_real_elapsed_time_across_dst(
    zone: str, start: datetime, seconds: int
) -> None:
    midnight_to_midnight = {day: (WorkingInterval(time(0), time(0)),) for day in range(7)}
    calendar = BusinessCalendar(name="all days", time_zone=zone, weekly_hours=midnight_to_midnight)
    assert calendar.add_business_time(start, seconds) == start + timedelta(seconds=seconds)


@settings(max_examples=100, deadline=None)
@given(start=starts, seconds=targets)
def test_around_the_clock_is_plain_elapsed_time(start: datetime, seconds: int) -> None:
    calendar = BusinessCalendar.around_the_clock()
    assert calendar.add_business_time(start, seconds) == start + timedelta(seconds=seconds)


@settings(max_examples=100, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    weeks=st.integers(1, 12),
    monday=st.sampled_from(
        [
            date(2026, 3, 2),
            date(2026, 3, 23),
            date(2026, 9, 28),
            date(2026, 10, 26),
            date(2026, 12, 28),
        ]
    ),
)
def test_forty_hours_a_week_end_on_a_friday_at_five_local_time(
    zone: str, weeks: int, monday: date
) -> None:
    local = ZoneInfo(zone)
    start = datetime.combine(monday, time(9), tzinfo=local)
    deadline = office(zone).add_business_time(start, weeks * 40 * 3600)
    expected_friday = monday + timedelta(weeks=weeks - 1, days=4)
    assert deadline.astimezone(local).replace(tzinfo=None) == datetime.combine(
        expected_friday, time(17)
    )


@settings(max_examples=100, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    first=st.dates(date(2026, 1, 1), date(2026, 12, 20)),
    days=st.integers(0, 20),
)
def test_no_business_time_passes_on_a_holiday(zone: str, first: date, days: int) -> None:
    holiday = Holiday(first, first + timedelta(days=days), name="closed")
    local = ZoneInfo(zone)
    calendar = office(zone, (holiday,))
    opened = datetime.combine(holiday.first, time(0), tzinfo=local)
    reopened = datetime.combine(holiday.last + timedelta(days=1), time(0), tzinfo=local)
    assert calendar.business_seconds_between(opened, reopened) == 0
    assert calendar.add_business_time(opened, 1) > reopened


@settings(max_examples=100, deadline=None)
@given(zone=st.sampled_from(ZONES), start=starts, seconds=targets)
def test_a_night_shift_spanning_midnight_counts_both_sides(
    zone: str, start: datetime, seconds: int
) -> None:
    night = {day: (WorkingInterval(time(22), time(6)),) for day in range(7)}
    calendar = BusinessCalendar(name="night", time_zone=zone, weekly_hours=night)
    deadline = calendar.add_business_time(start, seconds)
    local_time = (deadline - MICROSECOND).astimezone(ZoneInfo(zone)).time()
    assert local_time >= time(22) or local_time < time(6)
    assert calendar.business_seconds_between(start, deadline) == pytest.approx(seconds, abs=1e-6)


def test_eight_hours_from_friday_afternoon_in_new_york_end_monday_after_spring_forward() -> None:
    new_york = ZoneInfo("America/New_York")
    friday = datetime(2026, 3, 6, 13, tzinfo=new_york)
    deadline = office("America/New_York").add_business_time(friday, 8 * 3600)
    assert deadline == datetime(2026, 3, 9, 13, tzinfo=new_york)
    assert deadline - friday == timedelta(days=3, hours=-1)  # one hour less over the weekend


def test_a_target_beyond_a_hundred_hours_is_not_capped() -> None:
    start = datetime(2026, 6, 1, 9, tzinfo=ZoneInfo("Europe/Berlin"))
    deadline = office("Europe/Berlin").add_business_time(start, 150 * 3600)
    # 150 h = 18 working days of 8 h and 6 h more: three weeks and three days on.
    assert deadline == datetime(2026, 6, 25, 15, tzinfo=ZoneInfo("Europe/Berlin"))


def test_a_calendar_without_working_hours_is_refused() -> None:
    with pytest.raises(CalendarHasNoWorkingHours):
        BusinessCalendar(name="never", weekly_hours={})


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(UnknownTimeZone):
        BusinessCalendar(name="x", time_zone="Mars/Olympus", weekly_hours=NINE_TO_FIVE)

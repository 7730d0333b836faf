"""SLA policies as JSON documents: what the API accepts and what the database stores."""

from datetime import date, time, timedelta
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from helpline_escalation.domain.calendar import BusinessCalendar, Holiday, WorkingInterval
from helpline_escalation.domain.errors import EscalationError
from helpline_escalation.domain.policy import (
    MAX_TARGET_SECONDS,
    PAUSE_STATUSES,
    STOP_STATUSES,
    EscalationLevel,
    MetricPolicy,
    PolicyConditions,
    SlaPolicy,
    WarningLead,
)
from helpline_shared.events import Priority, SlaMetric, TicketStatus
from helpline_shared.inputs import SafeLine, SafeName

Seconds = Annotated[int, Field(ge=1, le=MAX_TARGET_SECONDS)]
"""A duration of business time, positive and at most ten years."""
Offset = Annotated[int, Field(ge=-MAX_TARGET_SECONDS, le=MAX_TARGET_SECONDS)]
"""Business seconds before (negative) or after the deadline."""
Label = Annotated[SafeLine, Field(min_length=1, max_length=200)]
"""A plan, type, channel, organisation id or recipient named by a policy."""
Labels = Annotated[list[Label], Field(max_length=100)]
MAX_HOLIDAY_DAYS = 366


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IntervalDocument(_Document):
    """Working hours of a weekday; an end not after the start runs past midnight."""

    start: time
    end: time


class HolidayDocument(_Document):
    """A holiday: one day, or a range of days (``last`` included)."""

    first: date
    last: date | None = None
    name: Annotated[SafeLine, Field(max_length=200)] = ""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.last is not None and not (
            self.first <= self.last <= self.first + timedelta(days=MAX_HOLIDAY_DAYS - 1)
        ):
            raise ValueError(f"last must be on or after first, at most {MAX_HOLIDAY_DAYS} days on")
        return self


class CalendarDocument(_Document):
    """A business calendar: IANA zone, intervals per weekday (0 = Monday), holidays; or 24/7."""

    name: Annotated[SafeName, Field(max_length=128)]
    time_zone: str = Field(default="UTC", max_length=64)
    always_open: bool = False
    weekly_hours: dict[int, Annotated[list[IntervalDocument], Field(max_length=24)]] = Field(
        default_factory=dict
    )
    holidays: list[HolidayDocument] = Field(default_factory=list, max_length=366)

    @model_validator(mode="after")
    def _valid(self) -> Self:
        if any(day not in range(7) for day in self.weekly_hours):
            raise ValueError("weekly_hours keys are weekdays 0 (Monday) to 6 (Sunday)")
        try:
            self.to_calendar()
        except EscalationError as error:
            raise ValueError(f"{type(error).__name__}: {error}") from error
        return self

    def to_calendar(self) -> BusinessCalendar:
        """The domain calendar."""
        return BusinessCalendar(
            name=self.name,
            time_zone=self.time_zone,
            always_open=self.always_open,
            weekly_hours={
                day: tuple(WorkingInterval(i.start, i.end) for i in intervals)
                for day, intervals in self.weekly_hours.items()
            },
            holidays=tuple(Holiday(h.first, h.last or h.first, h.name) for h in self.holidays),
        )


class WarningDocument(_Document):
    """A warning lead: seconds left, or the fraction of the target left (0.25 = 25% left)."""

    seconds_left: Seconds | None = None
    fraction_left: float | None = Field(default=None, gt=0, lt=1)

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.seconds_left is None) == (self.fraction_left is None):
            raise ValueError("give exactly one of seconds_left and fraction_left")
        return self


class LevelDocument(_Document):
    """An escalation level at ``offset_seconds`` of business time from the deadline."""

    level: int = Field(ge=1, le=100)
    offset_seconds: Offset = 0
    notify: Labels = Field(default_factory=list)
    raise_priority_to: Priority | None = None
    widen_to_team: Annotated[SafeName, Field(max_length=64)] | None = None


class MetricDocument(_Document):
    """Targets (business seconds) by priority, warnings, escalation levels, conditions."""

    targets: dict[Priority, Seconds] = Field(min_length=1)
    warnings: list[WarningDocument] = Field(default_factory=list, max_length=20)
    escalations: list[LevelDocument] = Field(default_factory=list, max_length=20)
    pause_statuses: list[TicketStatus] = Field(default_factory=lambda: sorted(PAUSE_STATUSES))
    stop_statuses: list[TicketStatus] = Field(default_factory=lambda: sorted(STOP_STATUSES))

    @model_validator(mode="after")
    def _valid(self) -> Self:
        levels = [level.level for level in self.escalations]
        if len(set(levels)) != len(levels):
            raise ValueError("escalation levels must be numbered uniquely")
        return self


class ConditionsDocument(_Document):
    """Which tickets the policy covers; a list left empty matches any value."""

    plans: Labels = Field(default_factory=list)
    priorities: list[Priority] = Field(default_factory=list)
    types: Labels = Field(default_factory=list)
    channels: Labels = Field(default_factory=list)
    organizations: Labels = Field(default_factory=list)


class PolicyDocument(_Document):
    """An SLA policy as written over the API; each PUT stores a new version."""

    name: SafeName
    position: int = Field(ge=0, le=1_000_000)
    conditions: ConditionsDocument = Field(default_factory=ConditionsDocument)
    calendar: CalendarDocument
    metrics: dict[SlaMetric, MetricDocument] = Field(min_length=1)

    def to_policy(self, policy_id: str, version: int) -> SlaPolicy:
        """The domain policy, as version ``version`` of ``policy_id``."""
        return SlaPolicy(
            policy_id=policy_id,
            name=self.name,
            version=version,
            position=self.position,
            calendar=self.calendar.to_calendar(),
            conditions=PolicyConditions(
                plans=frozenset(self.conditions.plans),
                priorities=frozenset(self.conditions.priorities),
                types=frozenset(self.conditions.types),
                channels=frozenset(self.conditions.channels),
                organizations=frozenset(self.conditions.organizations),
            ),
            metrics={
                metric: MetricPolicy(
                    metric=metric,
                    targets=dict(document.targets),
                    warnings=tuple(
                        WarningLead(w.seconds_left, w.fraction_left) for w in document.warnings
                    ),
                    escalations=tuple(
                        EscalationLevel(
                            level=level.level,
                            offset_seconds=level.offset_seconds,
                            notify=tuple(level.notify),
                            raise_priority_to=level.raise_priority_to,
                            widen_to_team=level.widen_to_team,
                        )
                        for level in sorted(document.escalations, key=lambda level: level.level)
                    ),
                    pause_statuses=frozenset(document.pause_statuses),
                    stop_statuses=frozenset(document.stop_statuses),
                )
                for metric, document in self.metrics.items()
            },
        )

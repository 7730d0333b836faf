"""SLA clocks as plain data: start, pause, resume, stop, recompute, and what fires when.

Every change that moves the deadline bumps ``version``, so timers set for an older version are
stale no-ops. Warnings, the breach and each escalation level happen at most once per ``cycle``.
"""

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from helpline_escalation.domain.calendar import BusinessCalendar
from helpline_escalation.domain.policy import MetricPolicy, SlaPolicy, describe_duration
from helpline_shared.events import (
    Event,
    MessageAdded,
    SlaBreached,
    SlaClockPaused,
    SlaClockResumed,
    SlaClockStarted,
    SlaClockStopped,
    SlaDeadlineRecomputed,
    SlaEscalated,
    SlaMetric,
    SlaWarning,
)

ClockState = Literal["running", "paused", "stopped"]

FIRST_RESPONSE: SlaMetric = "first_response"
BREACH = "breach"


def is_first_response(message: MessageAdded) -> bool:
    """True when ``message`` answers the customer: a public agent reply that no robot sent."""
    return message.author_role == "agent" and message.public and not message.auto_reply


def is_customer_reply(message: MessageAdded) -> bool:
    """True when the customer wrote publicly; an auto-reply never counts."""
    return message.author_role == "requester" and message.public and not message.auto_reply


@dataclass(frozen=True)
class Due:
    """Something the clock wants to happen at ``at`` (a timer): ``breach``, ``warning-N``..."""

    purpose: str
    at: datetime


@dataclass(frozen=True)
class SlaClock:
    """One SLA metric of one ticket, in its current cycle."""

    tenant_id: str
    ticket_id: str
    metric: SlaMetric
    state: ClockState
    policy_id: str
    policy_version: int
    calendar: str
    target_seconds: int
    cycle: int
    started_at: datetime
    resumed_at: datetime
    deadline: datetime
    version: int
    elapsed_seconds: float = 0.0
    """Business time counted in this cycle before ``resumed_at``."""
    paused_seconds: float = 0.0
    paused_at: datetime | None = None
    stopped_at: datetime | None = None
    breached_at: datetime | None = None
    sent: tuple[str, ...] = ()
    """Warnings and escalation levels already published in this cycle."""
    history: tuple[dict[str, Any], ...] = ()

    @classmethod
    def start(
        cls,
        *,
        tenant_id: str,
        ticket_id: str,
        policy: SlaPolicy,
        rules: MetricPolicy,
        target_seconds: int,
        at: datetime,
        reason: str,
        cycle: int = 1,
        version: int = 1,
        priority: str = "",
        history: tuple[dict[str, Any], ...] = (),
    ) -> tuple["SlaClock", SlaClockStarted]:
        """Start a cycle of ``rules.metric``; return the clock and ``SlaClockStarted``."""
        deadline = policy.calendar.add_business_time(at, target_seconds)
        clock = cls(
            tenant_id=tenant_id,
            ticket_id=ticket_id,
            metric=rules.metric,
            state="running",
            policy_id=policy.policy_id,
            policy_version=policy.version,
            calendar=policy.calendar.name,
            target_seconds=target_seconds,
            cycle=cycle,
            started_at=at,
            resumed_at=at,
            deadline=deadline,
            version=version,
        )
        for_priority = f" for {priority} priority" if priority else ""
        reason = (
            f"{rules.metric.replace('_', ' ')} target{for_priority}: "
            f"{describe_duration(target_seconds)} on calendar {policy.calendar.name} "
            f"(policy {policy.policy_id} v{policy.version}); {reason}"
        )
        started = SlaClockStarted(
            tenant_id=tenant_id,
            ticket_id=ticket_id,
            occurred_at=at,
            metric=rules.metric,
            target_seconds=target_seconds,
            started_at=at,
            deadline=deadline,
            clock_version=version,
            reason=reason,
        )
        return clock._noted(at, "started", reason), started

    @property
    def status(self) -> str:
        """``running`` or ``paused``; once stopped, ``met`` or ``breached``."""
        if self.state != "stopped":
            return self.state
        return "breached" if self.breached_at is not None else "met"

    @property
    def active_seconds(self) -> float | None:
        """Seconds from start to stop less the time paused (the time to meet); None while open."""
        if self.stopped_at is None:
            return None
        return max((self.stopped_at - self.started_at).total_seconds() - self.paused_seconds, 0.0)

    @property
    def open(self) -> bool:
        """True while the clock runs or is paused."""
        return self.state != "stopped"

    def timer_id(self, purpose: str) -> str:
        """Id of the timer that does ``purpose`` for this version of the clock."""
        return f"{self.tenant_id}:{self.ticket_id}:{self.metric}:v{self.version}:{purpose}"

    def event_id_parts(self, purpose: str) -> tuple[str, ...]:
        """Stable parts of the id of the event ``purpose`` publishes: once per cycle."""
        return (
            "escalation",
            self.tenant_id,
            self.ticket_id,
            self.metric,
            f"cycle{self.cycle}",
            purpose,
        )

    def _noted(self, at: datetime, what: str, reason: str) -> "SlaClock":
        entry = {
            "at": at.isoformat(),
            "what": what,
            "deadline": self.deadline.isoformat(),
            "version": self.version,
            "cycle": self.cycle,
            "reason": reason,
        }
        return replace(self, history=(*self.history, entry))

    def elapsed_at(self, at: datetime, calendar: BusinessCalendar) -> float:
        """Business time counted in this cycle up to ``at``."""
        if self.state != "running":
            return self.elapsed_seconds
        return self.elapsed_seconds + calendar.business_seconds_between(self.resumed_at, at)

    def pause(
        self, *, at: datetime, reason: str, calendar: BusinessCalendar
    ) -> tuple["SlaClock", list[Event]]:
        """Stop counting from ``at``; a clock that is not running is left as it is."""
        if self.state != "running":
            return self, []
        paused = replace(
            self,
            state="paused",
            paused_at=at,
            version=self.version + 1,
            elapsed_seconds=self.elapsed_at(at, calendar),
        )
        event = SlaClockPaused(
            tenant_id=self.tenant_id,
            ticket_id=self.ticket_id,
            occurred_at=at,
            metric=self.metric,
            elapsed_seconds=paused.elapsed_seconds,
            clock_version=paused.version,
            reason=reason,
        )
        return paused._noted(at, "paused", reason), [event]

    def resume(
        self, *, at: datetime, reason: str, calendar: BusinessCalendar
    ) -> tuple["SlaClock", list[Event]]:
        """Count again from ``at``, towards a deadline moved by the pause."""
        if self.state != "paused" or self.paused_at is None:
            return self, []
        remaining = max(self.target_seconds - self.elapsed_seconds, 0.0)
        deadline = (
            self.deadline
            if self.breached_at is not None
            else calendar.add_business_time(at, remaining)
        )
        resumed = replace(
            self,
            state="running",
            resumed_at=at,
            paused_at=None,
            deadline=deadline,
            paused_seconds=self.paused_seconds + max((at - self.paused_at).total_seconds(), 0.0),
            version=self.version + 1,
        )
        event = SlaClockResumed(
            tenant_id=self.tenant_id,
            ticket_id=self.ticket_id,
            occurred_at=at,
            metric=self.metric,
            deadline=deadline,
            paused_seconds=resumed.paused_seconds,
            clock_version=resumed.version,
            reason=reason,
        )
        return resumed._noted(at, "resumed", reason), [event]

    def stop(
        self, *, at: datetime, reason: str, calendar: BusinessCalendar | None = None
    ) -> tuple["SlaClock", list[Event]]:
        """Stop the cycle: met unless breached; an already stopped clock is left as it is."""
        if self.state == "stopped":
            return self, []
        elapsed = self.elapsed_at(at, calendar) if calendar else self.elapsed_seconds
        # Stopped while paused (a waiting ticket closed): that last pause counts as paused too.
        last_pause = (
            max((at - self.paused_at).total_seconds(), 0.0)
            if self.state == "paused" and self.paused_at is not None
            else 0.0
        )
        stopped = replace(
            self,
            state="stopped",
            stopped_at=at,
            paused_at=None,
            elapsed_seconds=elapsed,
            paused_seconds=self.paused_seconds + last_pause,
            version=self.version + 1,
        )
        event = SlaClockStopped(
            tenant_id=self.tenant_id,
            ticket_id=self.ticket_id,
            occurred_at=at,
            metric=self.metric,
            deadline=self.deadline,
            stopped_at=at,
            breached=self.breached_at is not None,
            clock_version=stopped.version,
            reason=reason,
        )
        return stopped._noted(at, "stopped", reason), [event]

    def recompute(
        self, *, at: datetime, policy: SlaPolicy, target_seconds: int, reason: str
    ) -> tuple["SlaClock", list[Event]]:
        """Move the deadline to ``policy``'s calendar and ``target_seconds``; say what moved."""
        if self.state == "stopped":
            return self, []
        remaining = max(target_seconds - self.elapsed_seconds, 0.0)
        # Counted from the last resume on the new calendar: a deadline already past stays past.
        deadline = (
            policy.calendar.add_business_time(self.resumed_at, remaining)
            if self.state == "running"
            else self.deadline
        )
        moved = replace(
            self,
            policy_id=policy.policy_id,
            policy_version=policy.version,
            calendar=policy.calendar.name,
            target_seconds=target_seconds,
            deadline=deadline,
            version=self.version + 1,
        )
        event = SlaDeadlineRecomputed(
            tenant_id=self.tenant_id,
            ticket_id=self.ticket_id,
            occurred_at=at,
            metric=self.metric,
            previous_deadline=self.deadline,
            deadline=deadline,
            previous_target_seconds=self.target_seconds,
            target_seconds=target_seconds,
            policy_id=policy.policy_id,
            policy_version=policy.version,
            calendar=policy.calendar.name,
            clock_version=moved.version,
            reason=reason,
        )
        return moved._noted(at, "recomputed", reason), [event]

    def due(self, rules: MetricPolicy, calendar: BusinessCalendar) -> list[Due]:
        """What should fire, and when, while this version of the clock runs."""
        if self.state != "running":
            return []
        remaining = self.target_seconds - self.elapsed_seconds
        planned: list[Due] = []
        if self.breached_at is None:
            planned.append(Due(BREACH, self.deadline))
            for index, lead in enumerate(rules.warnings):
                purpose = f"warning-{index}"
                lead_seconds = lead.lead_seconds(self.target_seconds)
                if purpose in self.sent or lead_seconds >= self.target_seconds:
                    continue
                planned.append(
                    Due(
                        purpose,
                        calendar.add_business_time(
                            self.resumed_at, max(remaining - lead_seconds, 0.0)
                        ),
                    )
                )
        for level in rules.escalations:
            purpose = f"level-{level.level}"
            if purpose not in self.sent:
                planned.append(
                    Due(
                        purpose,
                        calendar.add_business_time(
                            self.resumed_at, max(remaining + level.offset_seconds, 0.0)
                        ),
                    )
                )
        return planned

    def fire(
        self,
        *,
        purpose: str,
        timer_version: int,
        rules: MetricPolicy,
        calendar: BusinessCalendar,
        at: datetime,
    ) -> tuple["SlaClock", Event | None]:
        """Do ``purpose`` (due ``at``) if this version still runs and it was not done yet."""
        if self.state != "running" or self.version != timer_version or purpose in self.sent:
            return self, None
        if purpose == BREACH:
            return self._breach()
        if purpose.startswith("warning-"):
            return self._warn(purpose, rules, calendar, at)
        if purpose.startswith("level-"):
            return self._escalate(purpose, rules, at)
        return self, None

    def _common(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "ticket_id": self.ticket_id,
            "metric": self.metric,
            "deadline": self.deadline,
            "clock_version": self.version,
        }

    def _breach(self) -> tuple["SlaClock", Event | None]:
        if self.breached_at is not None:
            return self, None
        reason = (
            f"no {self.metric.replace('_', ' ')} within "
            f"{describe_duration(self.target_seconds)} of business time on calendar "
            f"{self.calendar}"
        )
        # The breach happened at the deadline, whenever the timer fired: a re-fire is identical.
        event = SlaBreached(
            **self._common(),
            occurred_at=self.deadline,
            reason=reason,
            policy_id=self.policy_id,
            policy_version=self.policy_version,
            calendar=self.calendar,
        )
        breached = replace(self, breached_at=self.deadline, sent=(*self.sent, BREACH))
        return breached._noted(self.deadline, "breached", reason), event

    def _warn(
        self, purpose: str, rules: MetricPolicy, calendar: BusinessCalendar, at: datetime
    ) -> tuple["SlaClock", Event | None]:
        index = int(purpose.removeprefix("warning-"))
        if index >= len(rules.warnings) or self.breached_at is not None:
            return self, None
        lead = rules.warnings[index]
        left = max(self.target_seconds - self.elapsed_at(at, calendar), 0.0)
        reason = f"{lead.describe()} to the {self.metric.replace('_', ' ')} deadline"
        event = SlaWarning(
            **self._common(),
            occurred_at=at,
            seconds_left=round(left),
            policy_id=self.policy_id,
            policy_version=self.policy_version,
            calendar=self.calendar,
            reason=reason,
        )
        warned = replace(self, sent=(*self.sent, purpose))
        return warned._noted(at, purpose, reason), event

    def _escalate(
        self, purpose: str, rules: MetricPolicy, at: datetime
    ) -> tuple["SlaClock", Event | None]:
        level = rules.level(int(purpose.removeprefix("level-")))
        if level is None:
            return self, None
        when = (
            f"{describe_duration(-level.offset_seconds)} before"
            if level.offset_seconds < 0
            else f"{describe_duration(level.offset_seconds)} after"
        )
        reason = (
            f"escalation level {level.level}: {when} the {self.metric.replace('_', ' ')} deadline"
        )
        event = SlaEscalated(
            **self._common(),
            occurred_at=at,
            level=level.level,
            notify=level.notify,
            raise_priority_to=level.raise_priority_to,
            widen_to_team=level.widen_to_team,
            reason=reason,
            policy_id=self.policy_id,
            policy_version=self.policy_version,
            calendar=self.calendar,
        )
        escalated = replace(self, sent=(*self.sent, purpose))
        return escalated._noted(at, purpose, reason), event

"""SLA clocks as plain data, with the rules that start, stop and breach them."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from helpline_escalation.domain.policy import describe_duration
from helpline_shared.events import (
    MessageAdded,
    Priority,
    SlaBreached,
    SlaClockStarted,
    SlaClockStopped,
    SlaMetric,
    TicketStatus,
)

ClockState = Literal["running", "met", "breached"]

FIRST_RESPONSE: SlaMetric = "first_response"
STOPPING_STATUSES: frozenset[TicketStatus] = frozenset({"solved", "closed"})
"""Ticket statuses that stop every clock of the ticket."""


def is_first_response(message: MessageAdded) -> bool:
    """True when ``message`` answers the customer: a public agent reply that no robot sent."""
    return message.author_role == "agent" and message.public and not message.auto_reply


@dataclass(frozen=True)
class SlaClock:
    """One SLA metric of one ticket: its target, deadline and whether it was met or missed."""

    tenant_id: str
    ticket_id: str
    metric: SlaMetric
    state: ClockState
    target_seconds: int
    started_at: datetime
    deadline: datetime
    version: int
    stopped_at: datetime | None = None
    breached_at: datetime | None = None

    @classmethod
    def start_first_response(
        cls,
        *,
        tenant_id: str,
        ticket_id: str,
        priority: Priority,
        target_seconds: int,
        started_at: datetime,
    ) -> tuple["SlaClock", SlaClockStarted]:
        """Start the first-response clock of a new ticket; return it and ``SlaClockStarted``."""
        clock = cls(
            tenant_id=tenant_id, ticket_id=ticket_id, metric=FIRST_RESPONSE, state="running",
            target_seconds=target_seconds, started_at=started_at,
            deadline=started_at + timedelta(seconds=target_seconds), version=1,
        )
        started = SlaClockStarted(
            tenant_id=tenant_id, ticket_id=ticket_id, occurred_at=started_at,
            metric=FIRST_RESPONSE, target_seconds=target_seconds, started_at=started_at,
            deadline=clock.deadline, clock_version=clock.version,
            reason=f"first response target for {priority} priority: "
                   f"{describe_duration(target_seconds)}",
        )
        return clock, started

    @property
    def breach_timer_id(self) -> str:
        """Id of the timer that breaches this version of the clock at its deadline."""
        return f"{self.tenant_id}:{self.ticket_id}:{self.metric}:breach:v{self.version}"

    def stop(self, *, at: datetime, reason: str) -> tuple["SlaClock", list[SlaClockStopped]]:
        """Stop the clock: met if still running, missed if breached; already stopped: no-op."""
        if self.stopped_at is not None or self.state == "met":
            return self, []
        breached = self.state == "breached"
        stopped = replace(
            self, state="breached" if breached else "met", stopped_at=at, version=self.version + 1
        )
        event = SlaClockStopped(
            tenant_id=self.tenant_id, ticket_id=self.ticket_id, occurred_at=at,
            metric=self.metric, deadline=self.deadline, stopped_at=at, breached=breached,
            clock_version=stopped.version, reason=reason,
        )
        return stopped, [event]

    def breach(self, *, timer_version: int) -> tuple["SlaClock", SlaBreached | None]:
        """Breach at the deadline if the clock still runs the timer's version; otherwise no-op."""
        if self.state != "running" or self.version != timer_version:
            return self, None
        breached = replace(self, state="breached", breached_at=self.deadline)
        # The breach happened at the deadline, whenever the timer fired: a re-fire is identical.
        event = SlaBreached(
            tenant_id=self.tenant_id, ticket_id=self.ticket_id, occurred_at=self.deadline,
            metric=self.metric, deadline=self.deadline, clock_version=self.version,
            reason=f"no {self.metric.replace('_', ' ')} within "
                   f"{describe_duration(self.target_seconds)} of the ticket's creation",
        )
        return breached, event

"""Escalation's unit of work: the shared one, with clocks, tickets, policies and timers."""

from typing import Self

from helpline_escalation.adapters.orm import timers
from helpline_escalation.adapters.report_queries import SlaReportQueries
from helpline_escalation.adapters.repository import (
    PolicyRepository,
    SlaClockRepository,
    TicketRepository,
)
from helpline_escalation.adapters.schedule_repository import ScheduleRepository
from helpline_shared.runtime.timers import TimerScheduler
from helpline_shared.runtime.uow import SqlUnitOfWork


class EscalationUnitOfWork(SqlUnitOfWork):
    """One transaction over clocks, tickets, policies, schedules, reports, timers, outbox, inbox."""

    clocks: SlaClockRepository
    tickets: TicketRepository
    policies: PolicyRepository
    schedules: ScheduleRepository
    timers: TimerScheduler
    sla_reports: SlaReportQueries

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.clocks = SlaClockRepository(self.session)
        self.tickets = TicketRepository(self.session)
        self.policies = PolicyRepository(self.session)
        self.schedules = ScheduleRepository(self.session)
        self.sla_reports = SlaReportQueries(self.session)
        self.timers = TimerScheduler(self.session, timers, on_scheduled=self.timer_scheduled)
        self.writes_behind(self.clocks)
        return self

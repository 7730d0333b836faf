"""Escalation's unit of work: the shared one, with clocks, tickets, policies and timers."""

import weakref
from typing import Self

from helpline_escalation.adapters.orm import timers
from helpline_escalation.adapters.report_queries import SlaReportQueries
from helpline_escalation.adapters.repository import (
    PolicyCache,
    PolicyRepository,
    SlaClockRepository,
    TicketRepository,
    WrittenTogether,
)
from helpline_escalation.adapters.schedule_repository import ScheduleRepository
from helpline_shared.runtime.timers import TimerScheduler
from helpline_shared.runtime.uow import SqlUnitOfWork, per_database

_POLICIES: "weakref.WeakKeyDictionary[object, PolicyCache]" = weakref.WeakKeyDictionary()


def policies_of(session_factory: object) -> PolicyCache:
    """The policies cached for the database ``session_factory`` opens sessions on."""
    return per_database(_POLICIES, session_factory, PolicyCache)


class EscalationUnitOfWork(SqlUnitOfWork):
    """One transaction over clocks, tickets, policies, schedules, reports, timers, outbox, inbox."""

    clocks: SlaClockRepository
    tickets: TicketRepository
    policies: PolicyRepository
    schedules: ScheduleRepository
    timers: TimerScheduler
    """SLA and preventive timers (SLA ones kept until the commit: one INSERT for all)."""
    sla_reports: SlaReportQueries

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        optimistic = self.optimistic_inserts()
        self.tickets = TicketRepository(self.session, optimistic)
        self.clocks = SlaClockRepository(self.session, optimistic)
        self.policies = PolicyRepository(self.session, policies_of(self._session_factory))
        self.schedules = ScheduleRepository(self.session)
        self.sla_reports = SlaReportQueries(self.session)
        self.timers = TimerScheduler(self.session, timers, on_scheduled=self.timer_scheduled)
        together = WrittenTogether(self.session, optimistic, self.tickets, self.clocks)
        self.writes_behind(together, self.timers)
        return self

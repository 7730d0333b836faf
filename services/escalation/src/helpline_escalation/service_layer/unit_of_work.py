"""Escalation's unit of work: the shared one, with clocks, tickets, policies and timers."""

from collections.abc import Callable
from datetime import datetime
from typing import Self

from helpline_escalation.adapters.orm import timers
from helpline_escalation.adapters.repository import (
    PolicyRepository,
    SlaClockRepository,
    TicketRepository,
)
from helpline_escalation.adapters.schedule_repository import ScheduleRepository
from helpline_shared.runtime.timers import TimerScheduler
from helpline_shared.runtime.uow import SqlUnitOfWork


class EscalationUnitOfWork(SqlUnitOfWork):
    """One transaction over clocks, tickets, policies, schedules, timers, outbox and inbox."""

    clocks: SlaClockRepository
    tickets: TicketRepository
    policies: PolicyRepository
    schedules: ScheduleRepository
    timers: TimerScheduler
    wake_timers: Callable[[datetime], None] | None = None
    """Told, after a commit, the earliest due time of the timers it scheduled."""
    _earliest_due: datetime | None = None

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self._earliest_due = None
        self.clocks = SlaClockRepository(self.session)
        self.tickets = TicketRepository(self.session)
        self.policies = PolicyRepository(self.session)
        self.schedules = ScheduleRepository(self.session)
        self.timers = TimerScheduler(self.session, timers, on_scheduled=self._scheduled)
        return self

    def _scheduled(self, due_at: datetime) -> None:
        if self.wake_timers is None:
            return
        if self._earliest_due is None:
            self.after_commit(self._wake_timer_loop)
        if self._earliest_due is None or due_at < self._earliest_due:
            self._earliest_due = due_at

    def _wake_timer_loop(self) -> None:
        due_at, self._earliest_due = self._earliest_due, None
        if due_at is not None and self.wake_timers is not None:
            self.wake_timers(due_at)

    async def rollback(self) -> None:
        """Discard the change, its events and its timers' wake-up."""
        self._earliest_due = None
        await super().rollback()

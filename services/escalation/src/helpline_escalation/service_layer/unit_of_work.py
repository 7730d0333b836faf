"""Escalation's unit of work: the shared one, with SLA clocks and timers."""

from typing import Self

from helpline_escalation.adapters.orm import timers
from helpline_escalation.adapters.repository import SlaClockRepository
from helpline_shared.runtime.timers import TimerScheduler
from helpline_shared.runtime.uow import SqlUnitOfWork


class EscalationUnitOfWork(SqlUnitOfWork):
    """One transaction over SLA clocks, timers, outbox and inbox."""

    clocks: SlaClockRepository
    timers: TimerScheduler

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.clocks = SlaClockRepository(self.session)
        self.timers = TimerScheduler(self.session, timers)
        return self

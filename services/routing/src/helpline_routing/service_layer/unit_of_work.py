"""Routing's unit of work: the shared one, with routing's repositories and timers."""

from collections.abc import Callable
from datetime import datetime
from typing import Any, Self

from helpline_routing.adapters.agents import AgentRepository
from helpline_routing.adapters.config_store import ConfigRepository
from helpline_routing.adapters.orm import timers
from helpline_routing.adapters.tickets import (
    HistoryRepository,
    OfferRepository,
    RoutedTicketRepository,
)
from helpline_shared.runtime.timers import TimerScheduler
from helpline_shared.runtime.uow import SqlUnitOfWork


class RoutingUnitOfWork(SqlUnitOfWork):
    """One transaction over agents, capacity, tickets, offers, timers, outbox and inbox."""

    agents: AgentRepository
    tickets: RoutedTicketRepository
    offers: OfferRepository
    history: HistoryRepository
    config: ConfigRepository
    wake_timers: Callable[[datetime], None] | None = None
    """Told, after a commit, the earliest due time of the timers it scheduled."""
    drain_soon: Callable[[str], None] | None = None
    """Told, after a commit that freed capacity, the tenant whose queue should drain."""
    _earliest_due: datetime | None = None

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self._earliest_due = None
        self.agents = AgentRepository(self.session)
        self.tickets = RoutedTicketRepository(self.session)
        self.offers = OfferRepository(self.session)
        self.history = HistoryRepository(self.session)
        self.config = ConfigRepository(self.session)
        self._timers = TimerScheduler(self.session, timers, on_scheduled=self._scheduled)
        return self

    async def schedule(self, timer_id: str, *, kind: str, due_at: datetime,
                       payload: dict[str, Any]) -> None:
        """Schedule a durable timer in this transaction."""
        await self._timers.schedule(timer_id, kind=kind, due_at=due_at, payload=payload)

    def drain_after_commit(self, tenant_id: str) -> None:
        """Drain the tenant's queue once this transaction has committed (capacity was freed)."""
        drain_soon = self.drain_soon
        if drain_soon is not None:
            self.after_commit(lambda: drain_soon(tenant_id))

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


UnitOfWorkFactory = Callable[[], RoutingUnitOfWork]

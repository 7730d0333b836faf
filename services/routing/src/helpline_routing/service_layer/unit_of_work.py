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
    wake_timers: Callable[[], None] = staticmethod(lambda: None)
    """Set by bootstrap: tells the timer loop a timer was scheduled."""

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.agents = AgentRepository(self.session)
        self.tickets = RoutedTicketRepository(self.session)
        self.offers = OfferRepository(self.session)
        self.history = HistoryRepository(self.session)
        self.config = ConfigRepository(self.session)
        self._timers = TimerScheduler(self.session, timers)
        self._scheduled = False
        return self

    async def schedule(self, timer_id: str, *, kind: str, due_at: datetime,
                       payload: dict[str, Any]) -> None:
        """Schedule a durable timer in this transaction."""
        if await self._timers.schedule(timer_id, kind=kind, due_at=due_at, payload=payload):
            self._scheduled = True

    async def commit(self) -> None:
        """Commit, then wake the timer loop if a timer was scheduled."""
        await super().commit()
        if self._scheduled:
            self._scheduled = False
            self.wake_timers()


UnitOfWorkFactory = Callable[[], RoutingUnitOfWork]

"""Routing's unit of work: the shared one, with routing's repositories and timers."""

import weakref
from collections.abc import Callable
from datetime import datetime
from typing import Any, Self

from helpline_routing.adapters.agent_pools import AgentPools, PoolTransaction
from helpline_routing.adapters.agents import AgentRepository
from helpline_routing.adapters.config_store import ConfigCache, ConfigRepository
from helpline_routing.adapters.orm import timers
from helpline_routing.adapters.tickets import (
    HistoryRepository,
    OfferRepository,
    RoutedTicketRepository,
    TicketsWithHistory,
)
from helpline_shared.runtime.timers import TimerScheduler
from helpline_shared.runtime.uow import SqlUnitOfWork, look_first_of, per_database

_POOLS: "weakref.WeakKeyDictionary[object, AgentPools]" = weakref.WeakKeyDictionary()
_CONFIGS: "weakref.WeakKeyDictionary[object, ConfigCache]" = weakref.WeakKeyDictionary()


def pools_of(session_factory: object) -> AgentPools:
    """The agent pools cached for the database ``session_factory`` opens sessions on."""
    return per_database(_POOLS, session_factory, AgentPools)


def configs_of(session_factory: object) -> ConfigCache:
    """The tenants' rules and settings cached for the database of ``session_factory``."""
    return per_database(_CONFIGS, session_factory, ConfigCache)


class RoutingUnitOfWork(SqlUnitOfWork):
    """One transaction over agents, capacity, tickets, offers, timers, outbox and inbox."""

    agents: AgentRepository
    tickets: RoutedTicketRepository
    offers: OfferRepository
    history: HistoryRepository
    config: ConfigRepository
    pools: PoolTransaction
    """The tenants' agent pools, cached across transactions on the same database."""
    drain_soon: Callable[[str], None] | None = None
    """Told, after a commit that freed capacity, the tenant whose queue should drain."""

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.agents = AgentRepository(
            self.session,
            lambda *change: self.pools.changed(*change),
            look_first_of(self._session_factory),
        )
        self.pools = PoolTransaction(
            pools_of(self._session_factory), self.session, self.agents.of_tenant
        )
        self.tickets = RoutedTicketRepository(
            self.session, self.optimistic_inserts(), look_first_of(self._session_factory)
        )
        self.offers = OfferRepository(self.session)
        self.history = HistoryRepository(self.session)
        self.config = ConfigRepository(self.session, configs_of(self._session_factory), self.pools)
        self._timers = TimerScheduler(self.session, timers, on_scheduled=self.timer_scheduled)
        together = TicketsWithHistory(self.session, self.tickets, self.history)
        self.writes_behind(together, self.agents, self._timers)
        return self

    async def schedule(
        self, timer_id: str, *, kind: str, due_at: datetime, payload: dict[str, Any]
    ) -> None:
        """Schedule a durable timer in this transaction (inserted at commit with the others)."""
        self._timers.schedule_at_commit(timer_id, kind=kind, due_at=due_at, payload=payload)

    def drain_after_commit(self, tenant_id: str) -> None:
        """Drain the tenant's queue once this transaction has committed (capacity was freed)."""
        drain_soon = self.drain_soon
        if drain_soon is not None:
            self.after_commit(lambda: drain_soon(tenant_id))

    async def commit(self) -> None:
        """Write what was kept behind, bump the version of the pools changed here, commit,
        then keep them up to date."""
        self._refuse_if_lent("commit")
        await self.flush()
        versions = await self.pools.bump()
        pools = self.pools
        self.after_commit(lambda: pools.committed(versions))
        await super().commit()

    async def rollback(self) -> None:
        """Discard the change, its events, its timers' wake-up and its pool changes."""
        self._refuse_if_lent("roll back")
        self.pools.rolled_back()
        await super().rollback()


UnitOfWorkFactory = Callable[[], RoutingUnitOfWork]

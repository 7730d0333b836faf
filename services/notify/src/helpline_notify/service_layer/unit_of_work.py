"""Notify's unit of work: the shared one, with notify's repositories."""

from collections.abc import Callable
from typing import Self

from helpline_notify.adapters.directory import DirectoryRepository, WatcherRepository
from helpline_notify.adapters.ledger import DeliveryRepository
from helpline_notify.adapters.repository import EndpointRepository, TicketViewRepository
from helpline_notify.adapters.settings_versions import SettingsVersions
from helpline_notify.adapters.tenant_config import (
    SubscriptionRepository,
    SuppressionRepository,
    TemplateRepository,
)
from helpline_shared.runtime.uow import SqlUnitOfWork


class NotifyUnitOfWork(SqlUnitOfWork):
    """One transaction over notify's tables, the outbox and the inbox."""

    endpoints: EndpointRepository
    tickets: TicketViewRepository
    deliveries: DeliveryRepository
    subscriptions: SubscriptionRepository
    templates: TemplateRepository
    suppressions: SuppressionRepository
    directory: DirectoryRepository
    watchers: WatcherRepository
    wake_worker: Callable[[], None] | None = None
    """Tells the delivery worker that deliveries may be due (bootstrap sets it)."""

    def deliveries_queued(self) -> None:
        """Wake the delivery worker once this unit of work has committed."""
        if self.wake_worker is not None:
            self.after_commit(self.wake_worker)

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        versions = SettingsVersions(self.session)
        self.endpoints = EndpointRepository(self.session, versions)
        self.tickets = TicketViewRepository(self.session)
        self.deliveries = DeliveryRepository(self.session)
        self.subscriptions = SubscriptionRepository(self.session, versions)
        self.templates = TemplateRepository(self.session, versions)
        self.suppressions = SuppressionRepository(self.session)
        self.directory = DirectoryRepository(self.session)
        self.watchers = WatcherRepository(self.session)
        self.writes_behind(self.tickets, self.deliveries)
        return self

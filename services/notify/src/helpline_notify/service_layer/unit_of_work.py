"""Notify's unit of work: the shared one, with notify's repositories."""

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Self

from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_notify.adapters.directory import DirectoryRepository, WatcherRepository
from helpline_notify.adapters.ledger import DeliveryRepository
from helpline_notify.adapters.repository import EndpointRepository, TicketViewRepository
from helpline_notify.adapters.settings_versions import SettingsVersions, cache_of, versions_now
from helpline_notify.adapters.tenant_config import (
    SubscriptionRepository,
    SuppressionRepository,
    TemplateRepository,
)
from helpline_notify.domain.model import Delivery, WebhookEndpoint
from helpline_notify.domain.subscriptions import Subscription
from helpline_notify.service_layer.ports import DeliveryHandOff, Held
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
    settings_versions: SettingsVersions
    wake_worker: Callable[[], None] | None = None
    """Tells the delivery worker that deliveries may be due (bootstrap sets it)."""
    hand_off: DeliveryHandOff | None = None
    """The delivery worker of this process, to lease queued deliveries to (bootstrap sets it)."""

    async def settings_if_kept(
        self, tenant_ids: Iterable[str]
    ) -> dict[str, tuple[Sequence[Subscription], Sequence[WebhookEndpoint]]] | None:
        """Each tenant's subscriptions and endpoints as this process keeps them at the settings
        version committed now, read without opening this unit of work (one statement per tenant
        on a read-only connection); None when one tenant's are not kept at that version (open
        the unit of work and read them)."""
        engine = getattr(self._session_factory, "kw", {}).get("bind")
        if not isinstance(engine, AsyncEngine):
            return None
        cache = cache_of(engine.sync_engine)
        settings: dict[str, tuple[Sequence[Subscription], Sequence[WebhookEndpoint]]] = {}
        for tenant_id, version in (await versions_now(engine, tenant_ids)).items():
            if version is None:  # nothing was ever set: no subscription, no endpoint
                settings[tenant_id] = ((), ())
                continue
            has_subscriptions, kept_subscriptions = cache.known(tenant_id, version, "subscriptions")
            has_endpoints, kept_endpoints = cache.known(tenant_id, version, "endpoints")
            if not (has_subscriptions and has_endpoints):
                return None
            settings[tenant_id] = (kept_subscriptions, kept_endpoints)
        return settings

    def deliveries_queued(
        self,
        queued: Sequence[Delivery] = (),
        endpoints: Mapping[str, WebhookEndpoint] | None = None,
    ) -> None:
        """Lease to this process's worker what it has room to send at once (the lease is written
        by the delivery's own INSERT) and hand it over once this unit of work has committed;
        wake the worker to claim the rest. A crash before the send leaves a lease that runs out:
        any replica's claim takes the delivery then, as it takes any other."""
        leased: list[tuple[Delivery, WebhookEndpoint | None]] = []
        if self.hand_off is not None:
            for delivery in queued:
                if delivery.id not in self._leased_ids and self.hand_off.lease(
                    delivery, self._held
                ):
                    self._leased_ids.add(delivery.id)
                    endpoint = (endpoints or {}).get(delivery.destination)
                    leased.append((delivery, endpoint if delivery.channel == "webhook" else None))
        if leased:
            self.after_commit(self._handing(leased))
        if len(leased) < len(queued) and self.wake_worker is not None:
            self.after_commit(self.wake_worker)

    def _handing(self, leased: list[tuple[Delivery, WebhookEndpoint | None]]) -> Callable[[], None]:
        hand_off = self.hand_off
        assert hand_off is not None
        repository = self.deliveries

        # Only the rows this transaction inserted: one already there (the same event applied
        # again after its inbox row was purged) keeps its own state and is not sent again.
        def hand() -> None:
            new = repository.inserted
            hand_off.take([(d, endpoint) for d, endpoint in leased if d.id in new])

        return hand

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        versions = self.settings_versions = SettingsVersions(self.session)
        self.endpoints = EndpointRepository(self.session, versions)
        self.tickets = TicketViewRepository(self.session)
        self.deliveries = DeliveryRepository(self.session)
        self.subscriptions = SubscriptionRepository(self.session, versions)
        self.templates = TemplateRepository(self.session, versions)
        self.suppressions = SuppressionRepository(self.session, versions)
        self.directory = DirectoryRepository(self.session, self.after_commit, versions)
        self.watchers = WatcherRepository(self.session)
        self.writes_behind(self.tickets, self.deliveries)
        self._held = Held()
        self._leased_ids: set[str] = set()
        return self

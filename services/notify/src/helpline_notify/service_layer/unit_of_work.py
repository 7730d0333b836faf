"""Notify's unit of work: the shared one, with notify's repositories."""

from typing import Self

from helpline_notify.adapters.repository import (
    DeliveryRepository,
    EndpointRepository,
    TicketViewRepository,
)
from helpline_shared.runtime.uow import SqlUnitOfWork


class NotifyUnitOfWork(SqlUnitOfWork):
    """One transaction over endpoints, tickets, deliveries, outbox and inbox."""

    endpoints: EndpointRepository
    tickets: TicketViewRepository
    deliveries: DeliveryRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.endpoints = EndpointRepository(self.session)
        self.tickets = TicketViewRepository(self.session)
        self.deliveries = DeliveryRepository(self.session)
        return self

"""Intake's unit of work: the shared one, with the ticket repository."""

from typing import Self

from helpline_intake.adapters.repository import TicketRepository
from helpline_shared.runtime.uow import SqlUnitOfWork


class IntakeUnitOfWork(SqlUnitOfWork):
    """One transaction over tickets, messages, outbox and inbox."""

    tickets: TicketRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.tickets = TicketRepository(self.session)
        return self

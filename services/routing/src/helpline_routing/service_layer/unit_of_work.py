"""Routing's unit of work: the shared one, with agents and assignments."""

from typing import Self

from helpline_routing.adapters.repository import AgentRepository, AssignmentRepository
from helpline_shared.runtime.uow import SqlUnitOfWork


class RoutingUnitOfWork(SqlUnitOfWork):
    """One transaction over agents, capacity, assignments, queue, outbox and inbox."""

    agents: AgentRepository
    assignments: AssignmentRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.agents = AgentRepository(self.session)
        self.assignments = AssignmentRepository(self.session)
        return self

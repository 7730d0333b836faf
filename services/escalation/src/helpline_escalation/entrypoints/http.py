"""Escalation's API: the SLA state of a ticket, for the tenant of the token."""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel

from helpline_escalation.domain.errors import TicketNotTracked
from helpline_escalation.domain.model import ClockState, SlaClock
from helpline_escalation.service_layer import handlers
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared.events import SlaMetric
from helpline_shared.runtime.auth import Principal, require_scope
from helpline_shared.runtime.problems import not_found

UnitOfWorkFactory = Callable[[], EscalationUnitOfWork]
# ``require_scope`` returns ``Depends(...)`` typed as ``object``: as ``Annotated`` metadata it
# type-checks, where a parameter default of type ``object`` does not.
TicketReader = Annotated[Principal, require_scope("tickets:read")]


class SlaMetricOut(BaseModel):
    """One SLA metric of a ticket: its target, deadline and outcome so far."""

    state: ClockState
    target_seconds: int
    started_at: datetime
    deadline: datetime
    stopped_at: datetime | None
    breached_at: datetime | None

    @classmethod
    def of(cls, clock: SlaClock) -> "SlaMetricOut":
        """Present ``clock``."""
        return cls(
            state=clock.state, target_seconds=clock.target_seconds, started_at=clock.started_at,
            deadline=clock.deadline, stopped_at=clock.stopped_at, breached_at=clock.breached_at,
        )


class TicketSlaOut(BaseModel):
    """The SLA metrics of a ticket, by metric."""

    ticket_id: str
    metrics: dict[SlaMetric, SlaMetricOut]


def router(unit_of_work: UnitOfWorkFactory) -> APIRouter:
    """The ``/v1/tickets/{ticket_id}/sla`` route on ``unit_of_work``."""
    api = APIRouter(prefix="/v1/tickets", tags=["sla"])
    @api.get("/{ticket_id}/sla", response_model=TicketSlaOut)
    async def get_ticket_sla(ticket_id: str, principal: TicketReader) -> TicketSlaOut:
        """The SLA clocks of one of the tenant's tickets."""
        try:
            clocks = await handlers.ticket_sla(principal.tenant_id, ticket_id, unit_of_work())
        except TicketNotTracked as error:
            raise not_found("ticket") from error
        return TicketSlaOut(
            ticket_id=ticket_id, metrics={clock.metric: SlaMetricOut.of(clock) for clock in clocks}
        )

    return api

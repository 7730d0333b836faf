"""Escalation's API: a ticket's SLA state, and the tenant's versioned SLA policies."""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from helpline_escalation.adapters.policy_documents import PolicyDocument
from helpline_escalation.domain.errors import TicketNotTracked
from helpline_escalation.domain.history import history_entries
from helpline_escalation.domain.model import SlaClock
from helpline_escalation.domain.policy import SlaPolicy
from helpline_escalation.service_layer import handlers, policies
from helpline_escalation.service_layer.clock_store import BUILT_IN_DEFAULT
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared.events import SlaMetric
from helpline_shared.runtime.auth import Principal, require
from helpline_shared.runtime.problems import not_found

UnitOfWorkFactory = Callable[[], EscalationUnitOfWork]
# ``require`` returns ``Depends(...)`` typed as ``object``: as ``Annotated`` metadata it
# type-checks, where a parameter default of type ``object`` does not.
TicketReader = Annotated[Principal, require("sla.read")]
Admin = Annotated[Principal, require("sla.manage")]


class SlaHistoryOut(BaseModel):
    """One thing that happened to a clock: when, the event and why (plus the stored entry)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "at": "2026-11-30T09:00:00Z",
                    "event": "started",
                    "detail": "first response target for high priority: 4h on calendar 24/7 "
                    "(policy "
                    "default v1); ticket created",
                    "what": "started",
                    "deadline": "2026-11-30T13:00:00Z",
                    "version": 1,
                    "cycle": 1,
                    "reason": "first response target for high priority: 4h on calendar 24/7 "
                    "(policy "
                    "default v1); ticket created",
                }
            ]
        }
    )

    at: datetime
    event: str = Field(
        description="started, paused, resumed, warned, breached, met, stopped "
        "(stopped after a breach), escalated or recomputed"
    )
    detail: str = Field(description="Why, in words")
    what: str = Field(
        description="The stored name: warning-N and level-N name the warning "
        "and the escalation level"
    )
    deadline: datetime | None = None
    version: int | None = None
    cycle: int | None = None
    reason: str | None = None


def _history_out(clock: SlaClock) -> list[SlaHistoryOut]:
    return [
        SlaHistoryOut(
            **{**entry.stored, "at": entry.at, "event": entry.event, "detail": entry.detail}
        )
        for entry in history_entries(clock.history)
    ]


class SlaMetricOut(BaseModel):
    """One SLA metric of a ticket: target, business time used, pauses, deadline, history."""

    state: str
    """``running``, ``paused``, ``met`` or ``breached``."""
    target_seconds: int
    elapsed_business_seconds: float
    paused_seconds: float
    started_at: datetime
    deadline: datetime
    stopped_at: datetime | None
    breached_at: datetime | None
    cycle: int
    policy_id: str
    policy_version: int
    calendar: str
    history: list[SlaHistoryOut] = Field(description="What happened to the clock, oldest first")


class TicketSlaOut(BaseModel):
    """The SLA metrics of a ticket, by metric."""

    ticket_id: str
    metrics: dict[SlaMetric, SlaMetricOut]


class PolicyOut(BaseModel):
    """A stored policy version."""

    policy_id: str
    version: int
    name: str
    position: int


class MovedOut(BaseModel):
    """A deadline a recompute moved."""

    ticket_id: str
    metric: str
    previous_deadline: datetime
    deadline: datetime


class PolicyWritten(PolicyOut):
    """The new version, and the deadlines it moved (when a recompute was asked)."""

    moved: list[MovedOut]


def _policy_out(policy: SlaPolicy) -> PolicyOut:
    return PolicyOut(
        policy_id=policy.policy_id,
        version=policy.version,
        name=policy.name,
        position=policy.position,
    )


def router(unit_of_work: UnitOfWorkFactory, default: SlaPolicy = BUILT_IN_DEFAULT) -> APIRouter:
    """The ticket SLA and policy routes on ``unit_of_work``."""
    api = APIRouter(prefix="/v1", tags=["sla"])

    @api.get("/tickets/{ticket_id}/sla", response_model=TicketSlaOut)
    async def get_ticket_sla(ticket_id: str, principal: TicketReader) -> TicketSlaOut:
        """The SLA clocks of one of the tenant's tickets."""
        try:
            report = await handlers.ticket_sla_report(
                principal.tenant_id, ticket_id, unit_of_work(), default
            )
        except TicketNotTracked as error:
            raise not_found("ticket") from error
        return TicketSlaOut(
            ticket_id=ticket_id,
            metrics={
                clock.metric: SlaMetricOut(
                    state=clock.status,
                    target_seconds=clock.target_seconds,
                    elapsed_business_seconds=elapsed,
                    paused_seconds=clock.paused_seconds,
                    started_at=clock.started_at,
                    deadline=clock.deadline,
                    stopped_at=clock.stopped_at,
                    breached_at=clock.breached_at,
                    cycle=clock.cycle,
                    policy_id=clock.policy_id,
                    policy_version=clock.policy_version,
                    calendar=clock.calendar,
                    history=_history_out(clock),
                )
                for clock, elapsed in report
            },
        )

    @api.put("/sla/policies/{policy_id}", response_model=PolicyWritten)
    async def put_policy(
        policy_id: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")],
        document: PolicyDocument,
        principal: Admin,
        recompute: bool = False,
    ) -> PolicyWritten:
        """Store a new version of a policy; ``recompute=true`` moves its open clocks onto it."""
        policy, moved = await policies.put_policy(
            principal.tenant_id, policy_id, document, recompute=recompute, uow=unit_of_work()
        )
        return PolicyWritten(
            **_policy_out(policy).model_dump(),
            moved=[
                MovedOut(
                    ticket_id=m.ticket_id,
                    metric=m.metric,
                    previous_deadline=m.previous_deadline,
                    deadline=m.deadline,
                )
                for m in moved
            ],
        )

    @api.get("/sla/policies", response_model=list[PolicyOut])
    async def list_policies(principal: Admin) -> list[PolicyOut]:
        """The tenant's policies (current versions) in the order they are tried."""
        return [
            _policy_out(policy)
            for policy in await policies.list_policies(
                principal.tenant_id, unit_of_work().read_only()
            )
        ]

    return api

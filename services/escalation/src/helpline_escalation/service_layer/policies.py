"""Managing SLA policies: versioned writes, listing, and recomputing the clocks they govern."""

from dataclasses import dataclass
from datetime import datetime

from helpline_escalation.adapters.policy_documents import PolicyDocument
from helpline_escalation.domain.policy import SlaPolicy
from helpline_escalation.service_layer.clock_store import save
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared.runtime.db import utcnow


@dataclass(frozen=True)
class MovedDeadline:
    """One clock whose deadline a recompute moved."""

    ticket_id: str
    metric: str
    previous_deadline: datetime
    deadline: datetime


async def put_policy(
    tenant_id: str,
    policy_id: str,
    document: PolicyDocument,
    *,
    recompute: bool,
    uow: EscalationUnitOfWork,
) -> tuple[SlaPolicy, list[MovedDeadline]]:
    """Store a new version of the policy; with ``recompute``, move its open clocks onto it."""
    async with uow:
        policy = await uow.policies.add_version(tenant_id, document, policy_id)
        moved = await _recompute(tenant_id, policy, uow) if recompute else []
        await uow.commit()
    return policy, moved


async def _recompute(
    tenant_id: str, policy: SlaPolicy, uow: EscalationUnitOfWork
) -> list[MovedDeadline]:
    moved: list[MovedDeadline] = []
    now = utcnow()
    reason = f"policy {policy.policy_id} changed to version {policy.version}"
    for clock in await uow.clocks.open_on_policy(tenant_id, policy.policy_id):
        known = await uow.tickets.get(tenant_id, clock.ticket_id)
        rules = policy.metric(clock.metric)
        target = rules.target_for(known[0].priority) if rules and known else None
        if target is None:
            continue  # the new version no longer tracks this metric for this ticket
        changed, events = clock.recompute(
            at=now, policy=policy, target_seconds=target, reason=reason
        )
        await save(uow, changed, policy, events, f"recompute:{policy.policy_id}:{policy.version}")
        await uow.tickets.follow(tenant_id, clock.ticket_id, policy)
        if changed.deadline != clock.deadline:
            moved.append(
                MovedDeadline(clock.ticket_id, clock.metric, clock.deadline, changed.deadline)
            )
    return moved


async def list_policies(tenant_id: str, uow: EscalationUnitOfWork) -> list[SlaPolicy]:
    """The current version of each of the tenant's policies, in the order they are tried."""
    async with uow:
        return await uow.policies.current(tenant_id)

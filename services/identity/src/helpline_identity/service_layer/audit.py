"""Reading and purging the audit log."""

from datetime import datetime

from helpline_identity.domain.model import AuditEntry
from helpline_identity.service_layer.context import Context, permit
from helpline_identity.service_layer.unit_of_work import IdentityUnitOfWork
from helpline_shared.envelope import Envelope
from helpline_shared.events import AuditRecorded
from helpline_shared.runtime.consumer import HandlerTable, apply_alone


async def search(
    uow: IdentityUnitOfWork,
    context: Context,
    tenant_id: str,
    *,
    limit: int,
    before_id: int | None,
    actor: str | None,
    action: str | None,
    target: str | None,
    since: datetime | None,
    until: datetime | None,
    outcome: str | None = None,
) -> list[AuditEntry]:
    """The tenant's entries matching the filters, newest first (admin)."""
    permit(context, "audit.read", tenant_id)
    async with uow:
        return await uow.audit.search(
            tenant_id,
            limit=limit,
            before_id=before_id,
            actor=actor,
            action=action,
            target=target,
            since=since,
            until=until,
            outcome=outcome,
        )


async def purge(uow: IdentityUnitOfWork, before: datetime) -> int:
    """Delete entries older than ``before``."""
    async with uow:
        removed = await uow.audit.purge(before)
        await uow.commit()
        return removed


CONSUMER = "identity-audit"


async def apply_audit_recorded(uow: IdentityUnitOfWork, envelope: Envelope) -> None:
    """Append another service's audit record to the log."""
    event = envelope.event
    if not isinstance(event, AuditRecorded):
        return
    await uow.audit.add(
        AuditEntry(
            actor=event.actor,
            action=event.action,
            at=event.occurred_at,
            tenant_id=event.tenant_id,
            target=event.target,
            outcome=event.outcome,
            request_id=event.request_id,
            source=event.source,
            detail={**event.detail, "service": event.service},
        )
    )


def handler_table() -> HandlerTable[IdentityUnitOfWork]:
    """What identity's consumer applies: the audit records of every service."""
    return HandlerTable(CONSUMER, {AuditRecorded: apply_audit_recorded})


async def on_audit_recorded(envelope: Envelope, uow: IdentityUnitOfWork) -> None:
    """Append another service's audit record to the log, once per event, in a transaction of
    its own (as the consumer's one-by-one path does)."""
    await apply_alone(handler_table(), uow, envelope)

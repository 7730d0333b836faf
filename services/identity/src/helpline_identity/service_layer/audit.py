"""Reading and purging the audit log."""

from datetime import datetime

from helpline_identity.domain.model import AuditEntry
from helpline_identity.service_layer.context import Context, permit
from helpline_identity.service_layer.unit_of_work import IdentityUnitOfWork


async def search(uow: IdentityUnitOfWork, context: Context, tenant_id: str, *, limit: int,
                 before_id: int | None, actor: str | None, action: str | None,
                 target: str | None, since: datetime | None,
                 until: datetime | None) -> list[AuditEntry]:
    """The tenant's entries matching the filters, newest first (admin)."""
    permit(context, "audit.read", tenant_id)
    async with uow:
        return await uow.audit.search(tenant_id, limit=limit, before_id=before_id, actor=actor,
                                      action=action, target=target, since=since, until=until)


async def purge(uow: IdentityUnitOfWork, before: datetime) -> int:
    """Delete entries older than ``before``."""
    async with uow:
        removed = await uow.audit.purge(before)
        await uow.commit()
        return removed

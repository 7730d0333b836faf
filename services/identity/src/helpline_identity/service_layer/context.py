"""What every use case is told about its request: who calls, when, from where."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from helpline_identity.domain.errors import Forbidden, NotFound, TenantUnavailable
from helpline_identity.domain.model import AuditEntry
from helpline_identity.domain.permissions import Action, Caller, require
from helpline_identity.service_layer.unit_of_work import IdentityUnitOfWork

UnitOfWorkFactory = Callable[[], IdentityUnitOfWork]


@dataclass(frozen=True)
class Context:
    """The caller (None before authentication), the time, the request id and source address."""

    now: datetime
    caller: Caller | None = None
    request_id: str | None = None
    source: str | None = None

    @property
    def actor(self) -> str:
        """How the audit log names the caller."""
        caller = self.caller
        if caller is None:
            return "anonymous"
        if caller.kind == "person":
            return f"user:{caller.user_id}"
        if caller.kind == "integration":
            return f"api_key:{caller.credential_id}"
        return "operator"

    def entry(
        self,
        action: str,
        *,
        tenant_id: str | None,
        target: str | None = None,
        outcome: str = "ok",
        actor: str | None = None,
        **detail: str,
    ) -> AuditEntry:
        """An audit entry of this request (``actor``: who signed in, before a caller exists)."""
        return AuditEntry(
            actor=actor or self.actor,
            action=action,
            at=self.now,
            tenant_id=tenant_id,
            target=target,
            outcome=outcome,  # type: ignore[arg-type]
            request_id=self.request_id,
            source=self.source,
            detail=detail,
        )


async def audit_apart(
    unit_of_work: UnitOfWorkFactory,
    context: Context,
    action: str,
    *,
    tenant_id: str | None,
    target: str | None,
    outcome: str,
    **detail: str,
) -> None:
    """Record a failure or denial in its own transaction (the request's own is rolled back)."""
    async with unit_of_work() as uow:
        await uow.audit.add(
            context.entry(action, tenant_id=tenant_id, target=target, outcome=outcome, **detail)
        )
        await uow.commit()


def permit(context: Context, action: Action, tenant_id: str) -> Caller:
    """The caller, if it may perform ``action`` in ``tenant_id``; else ``Forbidden``."""
    caller = context.caller
    if caller is None:
        raise Forbidden("authentication required")
    require(caller, action)
    if caller.kind != "operator" and caller.tenant_id != tenant_id:
        raise NotFound("tenant not found")
    return caller


async def active_tenant(uow: IdentityUnitOfWork, tenant_id: str) -> None:
    """Raise unless the tenant exists and is active."""
    tenant = await uow.tenants.get(tenant_id)
    if tenant is None or tenant.state == "deleted":
        raise NotFound("tenant not found")
    if tenant.state != "active":
        raise TenantUnavailable(f"tenant {tenant_id} is {tenant.state}")

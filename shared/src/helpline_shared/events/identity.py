"""Identity's events on ``helpline.identity`` (tenants, users, teams, API keys), and the audit
records any service publishes on ``helpline.audit`` for identity's log.

They are about no ticket: ``ticket_id`` (the envelope's record key) holds the tenant id, so one
tenant's identity changes stay in order in one partition. They carry no secret and no hash.
"""

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from helpline_shared import topics
from helpline_shared.events.base import EmailAddress, Event

__all__ = [
    "ApiKeyCreated", "ApiKeyRevoked", "AuditRecorded", "IdentityEvent", "Role", "TeamChanged",
    "TenantCreated", "TenantDeleted", "TenantSuspended", "UserCreated", "UserDeactivated",
    "UserUpdated",
]

Role = Literal["admin", "lead", "agent"]


class IdentityEvent(Event):
    """Base of identity's events: keyed by tenant (``ticket_id`` defaults to the tenant id)."""

    topic: ClassVar[str] = topics.IDENTITY

    ticket_id: str = Field(default="", max_length=64)
    """The record key: the tenant id (identity events are about no ticket)."""

    @model_validator(mode="before")
    @classmethod
    def _key_by_tenant(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("ticket_id"):
            return {**data, "ticket_id": data.get("tenant_id", "")}
        return data


class TenantCreated(IdentityEvent):
    """An operator created a tenant."""

    event_type: ClassVar[str] = "helpline.identity.tenant.created.v1"

    name: str


class TenantSuspended(IdentityEvent):
    """A tenant was suspended: every credential of it is refused until it is resumed."""

    event_type: ClassVar[str] = "helpline.identity.tenant.suspended.v1"


class TenantDeleted(IdentityEvent):
    """A tenant was deleted with its users, teams and keys."""

    event_type: ClassVar[str] = "helpline.identity.tenant.deleted.v1"


class UserCreated(IdentityEvent):
    """A person got an account in a tenant."""

    event_type: ClassVar[str] = "helpline.identity.user.created.v1"

    user_id: str
    name: str
    email: EmailAddress
    role: Role
    teams: tuple[str, ...] = ()


class UserUpdated(IdentityEvent):
    """A person's name, email, role or teams changed; the event carries the new values."""

    event_type: ClassVar[str] = "helpline.identity.user.updated.v1"

    user_id: str
    name: str
    email: EmailAddress
    role: Role
    teams: tuple[str, ...] = ()
    active: bool = True


class UserDeactivated(IdentityEvent):
    """A person's account was deactivated: their tokens and keys are refused from now on."""

    event_type: ClassVar[str] = "helpline.identity.user.deactivated.v1"

    user_id: str


class TeamChanged(IdentityEvent):
    """A team was created or deleted (``deleted``)."""

    event_type: ClassVar[str] = "helpline.identity.team.changed.v1"

    team_id: str
    name: str
    deleted: bool = False


class ApiKeyCreated(IdentityEvent):
    """An API key was created (its secret and hash are never published)."""

    event_type: ClassVar[str] = "helpline.identity.api_key.created.v1"

    key_id: str
    prefix: str
    scopes: tuple[str, ...]
    user_id: str | None = None
    expires_at: datetime | None = None


class ApiKeyRevoked(IdentityEvent):
    """An API key was revoked."""

    event_type: ClassVar[str] = "helpline.identity.api_key.revoked.v1"

    key_id: str


class AuditRecorded(IdentityEvent):
    """Something a service wants in the audit log (a denial, a write); identity keeps it."""

    event_type: ClassVar[str] = "helpline.audit.recorded.v1"
    topic: ClassVar[str] = topics.AUDIT

    service: str
    actor: str
    action: str
    target: str | None = None
    outcome: Literal["ok", "denied", "failed"] = "ok"
    request_id: str | None = None
    source: str | None = None
    detail: dict[str, str] = Field(default_factory=dict)

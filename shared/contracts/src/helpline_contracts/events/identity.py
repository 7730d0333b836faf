"""Identity's events on ``helpline.identity`` (tenants, users, teams, API keys), and the audit
records any service publishes on ``helpline.audit`` for identity's log.

Both topics are internal: they are never part of a partner stream nor of the AsyncAPI partner
channel. The events are about no ticket: ``ticket_id`` (the envelope's record key) holds the
tenant id, so one tenant's identity changes stay in order in one partition. They carry no secret
and no hash.
"""

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from helpline_contracts import topics
from helpline_contracts.events.base import EmailAddress, Event

__all__ = [
    "ApiKeyCreated",
    "ApiKeyRevoked",
    "AuditRecorded",
    "IdentityEvent",
    "Role",
    "TeamChanged",
    "TenantCreated",
    "TenantDeleted",
    "TenantSuspended",
    "UserCreated",
    "UserDeactivated",
    "UserUpdated",
]

Role = Literal["admin", "lead", "agent"]

USER_ID = "The user's id in identity's directory."
EXAMPLE_USER_ID = "3f2b8c1e-6a4d-4e0f-9b7a-2c5d8e1f0a3b"
EXAMPLE_KEY_ID = "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e"
ROLE = "The user's role in the tenant: `admin`, `lead` or `agent`."
TEAMS = "The ids of the teams the user belongs to."


class IdentityEvent(Event):
    """Base of identity's events: keyed by tenant (``ticket_id`` defaults to the tenant id)."""

    topic: ClassVar[str] = topics.IDENTITY

    ticket_id: str = Field(
        default="",
        max_length=64,
        examples=["acme"],
        description="The record key: the tenant id (identity events are about no ticket).",
    )

    @model_validator(mode="before")
    @classmethod
    def _key_by_tenant(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("ticket_id"):
            return {**data, "ticket_id": data.get("tenant_id", "")}
        return data


class TenantCreated(IdentityEvent):
    """An operator created a tenant.

    Published by identity when the operator's create-tenant call succeeds.
    """

    event_type: ClassVar[str] = "helpline.identity.tenant.created.v1"

    name: str = Field(examples=["Acme Ltd"], description="The tenant's display name.")


class TenantSuspended(IdentityEvent):
    """A tenant was suspended: every credential of it is refused until it is resumed.

    Published by identity when the operator suspends the tenant.
    """

    event_type: ClassVar[str] = "helpline.identity.tenant.suspended.v1"


class TenantDeleted(IdentityEvent):
    """A tenant was deleted with its users, teams and keys.

    Published by identity when the operator deletes the tenant.
    """

    event_type: ClassVar[str] = "helpline.identity.tenant.deleted.v1"


class UserCreated(IdentityEvent):
    """A person got an account in a tenant.

    Published by identity when an admin adds a user or a first OIDC sign-in provisions one.
    """

    event_type: ClassVar[str] = "helpline.identity.user.created.v1"

    user_id: str = Field(examples=[EXAMPLE_USER_ID], description=USER_ID)
    name: str = Field(examples=["Ada Agent"], description="The person's display name.")
    email: EmailAddress = Field(
        examples=["ada@acme.example"],
        description="The person's email address (their sign-in name).",
    )
    role: Role = Field(examples=["agent"], description=ROLE)
    teams: tuple[str, ...] = Field(default=(), examples=[["billing"]], description=TEAMS)


class UserUpdated(IdentityEvent):
    """A person's name, email, role or teams changed; the event carries the new values.

    Published by identity when an admin (or the person, for their own name) changes the account.
    """

    event_type: ClassVar[str] = "helpline.identity.user.updated.v1"

    user_id: str = Field(examples=[EXAMPLE_USER_ID], description=USER_ID)
    name: str = Field(examples=["Ada Agent"], description="The person's display name.")
    email: EmailAddress = Field(
        examples=["ada@acme.example"],
        description="The person's email address (their sign-in name).",
    )
    role: Role = Field(examples=["lead"], description=ROLE)
    teams: tuple[str, ...] = Field(default=(), examples=[["billing", "german"]], description=TEAMS)
    active: bool = Field(
        default=True, examples=[True], description="False once the account is deactivated."
    )


class UserDeactivated(IdentityEvent):
    """A person's account was deactivated: their tokens and keys are refused from now on.

    Published by identity when an admin deactivates the account.
    """

    event_type: ClassVar[str] = "helpline.identity.user.deactivated.v1"

    user_id: str = Field(examples=[EXAMPLE_USER_ID], description=USER_ID)


class TeamChanged(IdentityEvent):
    """A team was created or deleted (``deleted``).

    Published by identity when an admin creates or deletes a team.
    """

    event_type: ClassVar[str] = "helpline.identity.team.changed.v1"

    team_id: str = Field(examples=["billing"], description="The team's id in the tenant.")
    name: str = Field(examples=["Billing"], description="The team's display name.")
    deleted: bool = Field(
        default=False, examples=[False], description="True when the team was deleted."
    )


class ApiKeyCreated(IdentityEvent):
    """An API key was created (its secret and hash are never published).

    Published by identity when an admin or a user creates an API key.
    """

    event_type: ClassVar[str] = "helpline.identity.api_key.created.v1"

    key_id: str = Field(examples=[EXAMPLE_KEY_ID], description="The key's id.")
    prefix: str = Field(
        examples=["hlk_3f2b8c1e"],
        description="The key's public prefix, to recognise it in lists and logs.",
    )
    scopes: tuple[str, ...] = Field(
        examples=[["tickets:read", "tickets:write"]], description="What the key may do."
    )
    user_id: str | None = Field(
        default=None,
        examples=[EXAMPLE_USER_ID],
        description="The user the key acts for; none for a tenant key.",
    )
    expires_at: datetime | None = Field(
        default=None,
        examples=["2027-01-01T00:00:00Z"],
        description="When the key stops working; none: never.",
    )


class ApiKeyRevoked(IdentityEvent):
    """An API key was revoked.

    Published by identity when an admin or the key's user revokes it.
    """

    event_type: ClassVar[str] = "helpline.identity.api_key.revoked.v1"

    key_id: str = Field(examples=[EXAMPLE_KEY_ID], description="The key's id.")


class AuditRecorded(IdentityEvent):
    """Something a service wants in the audit log (a denial, a write); identity keeps it.

    Published by any service through ``credentials.audit_record`` when it denies a request or
    performs a write worth auditing.
    """

    event_type: ClassVar[str] = "helpline.audit.recorded.v1"
    topic: ClassVar[str] = topics.AUDIT

    service: str = Field(examples=["intake"], description="The service that recorded it.")
    # The audit log's actor string predates the optional ``Actor`` of every event; changing its
    # type would break the published schema, so this event keeps it.
    actor: str = Field(
        examples=[f"user:{EXAMPLE_USER_ID}"],  # type: ignore[assignment]
        description="Who acted: a user, an API key or a service.",
    )
    action: str = Field(examples=["ticket.create"], description="What was done or attempted.")
    target: str | None = Field(
        default=None, examples=["ticket:T-1042"], description="What it was done to, if anything."
    )
    outcome: Literal["ok", "denied", "failed"] = Field(
        default="ok", examples=["denied"], description="`ok`, `denied` or `failed`."
    )
    request_id: str | None = Field(
        default=None,
        examples=["0f8e7d6c5b4a"],
        description="The request id of the HTTP call, if any.",
    )
    source: str | None = Field(
        default=None, examples=["203.0.113.7"], description="Where the request came from, if known."
    )
    detail: dict[str, str] = Field(
        default_factory=dict,
        examples=[{"scope": "tickets:write"}],
        description="Further facts, as short strings.",
    )

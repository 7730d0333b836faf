"""Request and response bodies of identity's HTTP API."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, WithJsonSchema

from helpline_identity.domain.model import SCOPES, ApiKey, AuditEntry, Role, Team, Tenant, User
from helpline_shared.inputs import SafeEmailAddress, SafeName

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
Password = Annotated[SecretStr, Field(min_length=12, max_length=1024)]
RoleName = Role


def _known_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise ValueError(f"unknown scope; one of {', '.join(SCOPES)}")
    return scope


Scope = Annotated[
    str, AfterValidator(_known_scope), WithJsonSchema({"type": "string", "enum": list(SCOPES)})
]
"""A scope of the permission matrix (``helpline_shared.permissions.SCOPES``)."""


class Strict(BaseModel):
    """Bodies refuse unknown fields."""

    model_config = ConfigDict(extra="forbid")


class FirstAdminIn(Strict):
    """The admin a new tenant starts with."""

    name: SafeName
    email: SafeEmailAddress
    password: Password | None = None


class TenantIn(Strict):
    """A new tenant."""

    tenant_id: Identifier
    name: SafeName
    admin: FirstAdminIn | None = None


class TenantOut(BaseModel):
    """A tenant."""

    tenant_id: str
    name: str
    state: str
    created_at: datetime

    @classmethod
    def of(cls, tenant: Tenant) -> "TenantOut":
        """From the domain value."""
        return cls(
            tenant_id=tenant.tenant_id,
            name=tenant.name,
            state=tenant.state,
            created_at=tenant.created_at,
        )


class UserIn(Strict):
    """A new person."""

    name: SafeName
    email: SafeEmailAddress
    role: RoleName
    teams: list[Identifier] = Field(default_factory=list, max_length=50)
    password: Password | None = None


class UserPatch(Strict):
    """Changes to a person; fields left out stay."""

    name: SafeName | None = None
    email: SafeEmailAddress | None = None
    role: RoleName | None = None
    teams: list[Identifier] | None = Field(default=None, max_length=50)
    password: Password | None = None
    active: bool | None = None


class UserOut(BaseModel):
    """A person (never their password hash)."""

    user_id: str
    name: str
    email: str
    role: str
    teams: list[str]
    active: bool

    @classmethod
    def of(cls, user: User) -> "UserOut":
        """From the domain value."""
        return cls(
            user_id=user.user_id,
            name=user.name,
            email=user.email,
            role=user.role,
            teams=list(user.teams),
            active=user.active,
        )


class TeamIn(Strict):
    """A new team."""

    team_id: Identifier
    name: SafeName


class TeamOut(BaseModel):
    """A team."""

    team_id: str
    name: str

    @classmethod
    def of(cls, team: Team) -> "TeamOut":
        """From the domain value."""
        return cls(team_id=team.team_id, name=team.name)


class ApiKeyIn(Strict):
    """A new API key."""

    name: SafeName
    scopes: list[Scope] = Field(min_length=1)
    expires_at: datetime | None = None
    user_id: str | None = Field(default=None, max_length=64)


class ApiKeyOut(BaseModel):
    """An API key as listed: never its secret."""

    id: str
    name: str
    prefix: str
    scopes: list[str]
    user_id: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> "ApiKeyOut":
        """From the domain value."""
        return cls(
            id=key.key_id,
            name=key.name,
            prefix=key.prefix,
            scopes=list(key.scopes),
            user_id=key.user_id,
            created_at=key.created_at,
            expires_at=key.expires_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )


class ApiKeyCreatedOut(BaseModel):
    """A new key with its secret, shown this once."""

    id: str
    key: str
    prefix: str
    scopes: list[str]
    expires_at: datetime | None


class ServiceKeyIn(Strict):
    """A new service key: the service it is for and what it may do."""

    service: Identifier
    scopes: list[Scope] = Field(min_length=1)


class ServiceKeyCreatedOut(BaseModel):
    """A new service key with its secret, shown this once."""

    id: str
    key: str
    prefix: str
    service: str
    scopes: list[str]


class ServiceKeyOut(BaseModel):
    """A service key as listed: never its secret."""

    id: str
    prefix: str
    service: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> "ServiceKeyOut":
        """From the domain value."""
        return cls(
            id=key.key_id,
            prefix=key.prefix,
            service=key.service or key.name,
            scopes=list(key.scopes),
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )


class LoginIn(Strict):
    """A password sign-in."""

    tenant: Identifier
    email: SafeEmailAddress
    password: SecretStr = Field(min_length=1, max_length=1024)


class RefreshIn(Strict):
    """A refresh token to exchange or revoke."""

    refresh_token: str = Field(min_length=1, max_length=200)


class TokensOut(BaseModel):
    """Tokens of a sign-in."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    refresh_token: str


class OidcProviderOut(BaseModel):
    """A provider people may sign in with."""

    name: str = Field(description="Its key in the login and callback paths")
    display_name: str = Field(description='What a sign-in page names it ("Sign in with …")')


ClientState = Annotated[str, Field(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]
"""A browser client's own random value, returned with the one-time code and needed to use it."""


class OidcTokensOut(TokensOut):
    """Tokens of a browser's OIDC sign-in, and the tenant the provider signed the person into."""

    tenant: str


class OidcExchangeIn(Strict):
    """A one-time code from a browser's OIDC sign-in, and the client state it was bound to."""

    code: str = Field(min_length=1, max_length=200)
    state: ClientState


class IntrospectIn(Strict):
    """A credential to look up (RFC 7662 style)."""

    token: str = Field(min_length=1, max_length=200)


class AuditOut(BaseModel):
    """One audit entry."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    outcome: str
    request_id: str | None
    source: str | None
    detail: dict[str, str]

    @classmethod
    def of(cls, entry: AuditEntry) -> "AuditOut":
        """From the domain value."""
        return cls(
            id=entry.entry_id or 0,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            outcome=entry.outcome,
            request_id=entry.request_id,
            source=entry.source,
            detail=entry.detail,
        )


class AuditPage(BaseModel):
    """A page of entries, newest first; ``next`` fetches the following page."""

    entries: list[AuditOut]
    next: str | None

"""Tenants, people, teams and credentials as plain values, with their lifetime rules."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from helpline_shared.permissions import ROLES as ROLES
from helpline_shared.permissions import SCOPES as SCOPE_MEANINGS
from helpline_shared.permissions import Role as Role

TenantState = Literal["active", "suspended", "deleted"]

SCOPES = tuple(SCOPE_MEANINGS)
"""Scopes an API key may hold: those of the one permission matrix."""

SERVICE_KEYS = "*"
"""The tenant of service keys: none (no tenant id can be ``*``); a request names its tenant."""


@dataclass
class Tenant:
    """A customer organisation of the deployment."""

    tenant_id: str
    name: str
    state: TenantState
    created_at: datetime
    changed_at: datetime


@dataclass
class User:
    """A person of one tenant: what they may do is their role, what they see their teams."""

    tenant_id: str
    user_id: str
    name: str
    email: str
    role: Role
    teams: tuple[str, ...] = ()
    active: bool = True
    password_hash: str | None = None
    deactivated_at: datetime | None = None


@dataclass
class Team:
    """A group of agents; its leads read its members."""

    tenant_id: str
    team_id: str
    name: str


@dataclass
class ApiKey:
    """An integration's credential: only its hash is kept."""

    tenant_id: str
    key_id: str
    name: str
    prefix: str
    key_hash: str
    scopes: tuple[str, ...]
    created_at: datetime
    user_id: str | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        """Not revoked and not expired at ``now``."""
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    @property
    def service(self) -> str | None:
        """The service a service key is for (named by the key's name); None for an API key."""
        return self.name if self.tenant_id == SERVICE_KEYS else None


@dataclass
class RefreshToken:
    """One link of a refresh-token family; it is used once, then replaced by the next."""

    token_id: str
    family_id: str
    tenant_id: str
    user_id: str
    token_hash: str
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass
class SigningKey:
    """An Ed25519 key pair: published from ``created_at``, signs from ``signs_from``."""

    kid: str
    private_pem: bytes
    public_jwk: dict[str, str]
    created_at: datetime
    signs_from: datetime
    retire_at: datetime | None = None

    def published(self, now: datetime) -> bool:
        """In the JWKS: created and not yet retired."""
        return self.retire_at is None or now < self.retire_at


def signing_key_at(keys: list[SigningKey], now: datetime) -> SigningKey | None:
    """The key that signs at ``now``: the newest whose ``signs_from`` has come."""
    live = [key for key in keys if key.signs_from <= now and key.published(now)]
    return max(live, key=lambda key: key.signs_from, default=None)


def rotation_times(
    now: datetime, publish_lead: timedelta, token_lifetime: timedelta
) -> tuple[datetime, datetime]:
    """When a new key starts signing, and when the keys it replaces leave the JWKS.

    The new key is published ``publish_lead`` before it signs, so caches have it first; the old
    one stays published until every token it signed has expired (plus a minute of clock skew).
    """
    signs_from = now + publish_lead
    return signs_from, signs_from + token_lifetime + timedelta(minutes=1)


@dataclass(frozen=True)
class LoginThrottle:
    """At most ``max_failures`` failed logins per account in ``window``."""

    max_failures: int = 5
    window: timedelta = field(default=timedelta(minutes=15))

    def retry_after(self, failures: list[datetime], now: datetime) -> int | None:
        """Seconds to wait when the account is locked, else None."""
        recent = sorted(at for at in failures if now - at < self.window)
        if len(recent) < self.max_failures:
            return None
        unlock = recent[-self.max_failures] + self.window
        return max(1, int((unlock - now).total_seconds()) + 1)


@dataclass(frozen=True)
class AuditEntry:
    """Who did what to what, when, from where, and whether it was allowed."""

    actor: str
    action: str
    at: datetime
    tenant_id: str | None = None
    target: str | None = None
    outcome: Literal["ok", "denied", "failed"] = "ok"
    request_id: str | None = None
    source: str | None = None
    detail: dict[str, str] = field(default_factory=dict)
    entry_id: int | None = None

"""Identity's repositories: one class per table family, all on the unit of work's session."""

from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_identity.adapters.orm import (
    api_keys,
    audit_log,
    oidc_codes,
    oidc_states,
    refresh_tokens,
    signing_keys,
    teams,
    tenants,
    users,
)
from helpline_identity.domain.errors import EmailTaken, TeamExists, TenantExists
from helpline_identity.domain.model import (
    ApiKey,
    AuditEntry,
    RefreshToken,
    SigningKey,
    Team,
    Tenant,
    User,
)
from helpline_shared.runtime.db import insert_all, refused_as


def _user(row: Row[Any]) -> User:
    values = dict(row._mapping)
    values["teams"] = tuple(values["teams"])
    return User(**values)


def _key(row: Row[Any]) -> ApiKey:
    values = dict(row._mapping)
    values["scopes"] = tuple(values["scopes"])
    return ApiKey(**values)


class TenantRepository:
    """Tenants of the deployment."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, tenant_id: str) -> Tenant | None:
        """The tenant, deleted ones included."""
        row = (
            await self._session.execute(select(tenants).where(tenants.c.tenant_id == tenant_id))
        ).first()
        return Tenant(**row._mapping) if row else None

    async def add(self, tenant: Tenant) -> None:
        """Store a new tenant."""
        with refused_as(TenantExists(tenant.tenant_id)):
            await self._session.execute(insert(tenants).values(**asdict(tenant)))

    async def save(self, tenant: Tenant) -> None:
        """Store a tenant's new state."""
        await self._session.execute(
            update(tenants)
            .where(tenants.c.tenant_id == tenant.tenant_id)
            .values(state=tenant.state, name=tenant.name, changed_at=tenant.changed_at)
        )

    async def all_active(self) -> list[Tenant]:
        """Every tenant that is not deleted."""
        rows = await self._session.execute(
            select(tenants).where(tenants.c.state != "deleted").order_by(tenants.c.tenant_id)
        )
        return [Tenant(**row._mapping) for row in rows]

    async def unavailable(self) -> list[str]:
        """Ids of suspended and deleted tenants."""
        rows = await self._session.execute(
            select(tenants.c.tenant_id).where(tenants.c.state != "active")
        )
        return [row.tenant_id for row in rows]

    async def purge_contents(self, tenant_id: str) -> None:
        """Delete a tenant's users, teams, keys and refresh tokens (the row stays, deleted)."""
        for table in (users, teams, api_keys, refresh_tokens):
            await self._session.execute(delete(table).where(table.c.tenant_id == tenant_id))


class UserRepository:
    """People of each tenant."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, tenant_id: str, user_id: str) -> User | None:
        """The user of this tenant."""
        row = (
            await self._session.execute(
                select(users).where(users.c.tenant_id == tenant_id, users.c.user_id == user_id)
            )
        ).first()
        return _user(row) if row else None

    async def by_email(self, tenant_id: str, email: str) -> User | None:
        """The user of this tenant with this email (compared case-insensitively)."""
        row = (
            await self._session.execute(
                select(users).where(users.c.tenant_id == tenant_id, users.c.email == email.lower())
            )
        ).first()
        return _user(row) if row else None

    async def add(self, user: User) -> None:
        """Store a new user."""
        with refused_as(EmailTaken(user.email)):
            await self._session.execute(
                insert(users).values(
                    **asdict(
                        replace(user, email=user.email.lower(), teams=list(user.teams))  # type: ignore[arg-type]
                    )
                )
            )

    async def save(self, user: User) -> None:
        """Store a user's new values."""
        values = asdict(user)
        values["teams"] = list(user.teams)
        values["email"] = user.email.lower()
        with refused_as(EmailTaken(user.email)):
            await self._session.execute(
                update(users)
                .where(users.c.tenant_id == user.tenant_id, users.c.user_id == user.user_id)
                .values(**values)
            )

    async def of_tenant(self, tenant_id: str) -> list[User]:
        """Every user of the tenant, by name."""
        rows = await self._session.execute(
            select(users).where(users.c.tenant_id == tenant_id).order_by(users.c.name)
        )
        return [_user(row) for row in rows]

    async def deactivated_since(self, since: datetime) -> list[tuple[str, str]]:
        """(tenant, user) of every user deactivated at or after ``since``."""
        rows = await self._session.execute(
            select(users.c.tenant_id, users.c.user_id).where(users.c.deactivated_at >= since)
        )
        return [(row.tenant_id, row.user_id) for row in rows]


class TeamRepository:
    """Teams of each tenant."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, tenant_id: str, team_id: str) -> Team | None:
        """The team of this tenant."""
        row = (
            await self._session.execute(
                select(teams).where(teams.c.tenant_id == tenant_id, teams.c.team_id == team_id)
            )
        ).first()
        return Team(**row._mapping) if row else None

    async def add(self, team: Team) -> None:
        """Store a new team."""
        with refused_as(TeamExists(team.team_id)):
            await self._session.execute(insert(teams).values(**asdict(team)))

    async def remove(self, team: Team) -> None:
        """Delete a team."""
        await self._session.execute(
            delete(teams).where(
                teams.c.tenant_id == team.tenant_id, teams.c.team_id == team.team_id
            )
        )

    async def of_tenant(self, tenant_id: str) -> list[Team]:
        """Every team of the tenant."""
        rows = await self._session.execute(
            select(teams).where(teams.c.tenant_id == tenant_id).order_by(teams.c.name)
        )
        return [Team(**row._mapping) for row in rows]


class ApiKeyRepository:
    """API keys, found by id or by the hash of the presented key."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, key: ApiKey) -> None:
        """Store a new key."""
        values = asdict(key)
        values["scopes"] = list(key.scopes)
        await self._session.execute(insert(api_keys).values(**values))

    async def get(self, tenant_id: str, key_id: str) -> ApiKey | None:
        """The key of this tenant."""
        row = (
            await self._session.execute(
                select(api_keys).where(
                    api_keys.c.tenant_id == tenant_id, api_keys.c.key_id == key_id
                )
            )
        ).first()
        return _key(row) if row else None

    async def by_hash(self, key_hash: str) -> ApiKey | None:
        """The key whose secret hashes to ``key_hash``."""
        row = (
            await self._session.execute(select(api_keys).where(api_keys.c.key_hash == key_hash))
        ).first()
        return _key(row) if row else None

    async def of_tenant(self, tenant_id: str) -> list[ApiKey]:
        """The tenant's keys, newest first."""
        rows = await self._session.execute(
            select(api_keys)
            .where(api_keys.c.tenant_id == tenant_id)
            .order_by(api_keys.c.created_at.desc())
        )
        return [_key(row) for row in rows]

    async def mark(self, key_id: str, **values: datetime) -> None:
        """Set ``revoked_at`` or ``last_used_at``."""
        await self._session.execute(
            update(api_keys).where(api_keys.c.key_id == key_id).values(**values)
        )

    async def revoked_since(self, since: datetime) -> list[str]:
        """Ids of keys revoked at or after ``since``."""
        rows = await self._session.execute(
            select(api_keys.c.key_id).where(api_keys.c.revoked_at >= since)
        )
        return [row.key_id for row in rows]

    async def revoke_for_user(self, tenant_id: str, user_id: str, now: datetime) -> None:
        """Revoke every key bound to a user."""
        await self._session.execute(
            update(api_keys)
            .where(
                api_keys.c.tenant_id == tenant_id,
                api_keys.c.user_id == user_id,
                api_keys.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )


class RefreshTokenRepository:
    """Refresh-token families."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, token: RefreshToken) -> None:
        """Store a new link of a family."""
        await self._session.execute(insert(refresh_tokens).values(**asdict(token)))

    async def by_hash(self, token_hash: str) -> RefreshToken | None:
        """The token whose secret hashes to ``token_hash``."""
        row = (
            await self._session.execute(
                select(refresh_tokens)
                .where(refresh_tokens.c.token_hash == token_hash)
                .with_for_update()
            )
        ).first()
        return RefreshToken(**row._mapping) if row else None

    async def mark_used(self, token_id: str, now: datetime) -> None:
        """Record that the token was exchanged."""
        await self._session.execute(
            update(refresh_tokens).where(refresh_tokens.c.token_id == token_id).values(used_at=now)
        )

    async def revoke_family(self, family_id: str, now: datetime) -> None:
        """Revoke every token of the family."""
        await self._session.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    async def revoke_for_user(self, tenant_id: str, user_id: str, now: datetime) -> None:
        """Revoke every refresh token of a user."""
        await self._session.execute(
            update(refresh_tokens)
            .where(
                refresh_tokens.c.tenant_id == tenant_id,
                refresh_tokens.c.user_id == user_id,
                refresh_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )


class SigningKeyRepository:
    """Signing keys, newest last."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def all(self) -> list[SigningKey]:
        """Every stored key."""
        rows = await self._session.execute(select(signing_keys).order_by(signing_keys.c.signs_from))
        return [SigningKey(**row._mapping) for row in rows]

    async def add(self, key: SigningKey) -> None:
        """Store a new key."""
        await self._session.execute(insert(signing_keys).values(**asdict(key)))

    async def retire(self, kids: Sequence[str], at: datetime) -> None:
        """Set when these keys leave the JWKS."""
        await self._session.execute(
            update(signing_keys).where(signing_keys.c.kid.in_(kids)).values(retire_at=at)
        )

    async def remove_retired(self, now: datetime) -> int:
        """Delete keys whose retirement has passed; how many."""
        result = await self._session.execute(
            delete(signing_keys).where(signing_keys.c.retire_at < now)
        )
        return int(getattr(result, "rowcount", 0) or 0)


class OidcStateRepository:
    """Pending OIDC sign-ins: state, PKCE verifier and nonce, used once."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, state: str, **values: object) -> None:
        """Remember a sign-in in flight."""
        await self._session.execute(insert(oidc_states).values(state=state, **values))

    async def take(self, state: str) -> dict[str, Any] | None:
        """Return and forget the sign-in of ``state``."""
        row = (
            await self._session.execute(select(oidc_states).where(oidc_states.c.state == state))
        ).first()
        if row is None:
            return None
        await self._session.execute(delete(oidc_states).where(oidc_states.c.state == state))
        return dict(row._mapping)


class OidcCodeRepository:
    """One-time codes a browser brings back from an OIDC sign-in: by SHA-256, used once."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, code_sha256: str, **values: object) -> None:
        """Remember whom a code signs in."""
        await self._session.execute(insert(oidc_codes).values(code_sha256=code_sha256, **values))

    async def take(self, code_sha256: str) -> dict[str, Any] | None:
        """Return and forget the sign-in of a code."""
        row = (
            await self._session.execute(
                select(oidc_codes).where(oidc_codes.c.code_sha256 == code_sha256)
            )
        ).first()
        if row is None:
            return None
        await self._session.execute(
            delete(oidc_codes).where(oidc_codes.c.code_sha256 == code_sha256)
        )
        return dict(row._mapping)

    async def purge(self, before: datetime) -> None:
        """Forget codes made before ``before`` (never exchanged)."""
        await self._session.execute(delete(oidc_codes).where(oidc_codes.c.created_at < before))


class AuditRepository:
    """The append-only audit log.

    Entries are written behind (``SqlUnitOfWork.writes_behind``): those of a transaction, such
    as a consumed batch of audit events, go in one statement at its commit, or before a read
    of the log in it."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._kept: list[dict[str, Any]] = []

    async def add(self, entry: AuditEntry) -> None:
        """Append an entry (written by ``flush``)."""
        values = asdict(entry)
        del values["entry_id"]
        self._kept.append(values)

    async def flush(self) -> None:
        """Write the entries kept so far, in one statement, in their order."""
        kept, self._kept = self._kept, []
        await insert_all(self._session, audit_log, kept)

    def discard(self) -> None:
        """Forget the entries kept (the transaction rolled back)."""
        self._kept = []

    async def failures(self, target: str, since: datetime) -> list[datetime]:
        """When logins to the account ``target`` failed since ``since``."""
        await self.flush()
        rows = await self._session.execute(
            select(audit_log.c.at).where(
                audit_log.c.action == "login",
                audit_log.c.outcome == "failed",
                audit_log.c.target == target,
                audit_log.c.at >= since,
            )
        )
        return [row.at for row in rows]

    async def search(
        self,
        tenant_id: str | None,
        *,
        limit: int,
        before_id: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        outcome: str | None = None,
    ) -> list[AuditEntry]:
        """Entries matching every given filter, newest first, older than ``before_id``."""
        await self.flush()
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        filters = [
            (tenant_id, audit_log.c.tenant_id.__eq__),
            (before_id, audit_log.c.id.__lt__),
            (actor, audit_log.c.actor.__eq__),
            (action, audit_log.c.action.__eq__),
            (target, audit_log.c.target.__eq__),
            (since, audit_log.c.at.__ge__),
            (until, audit_log.c.at.__lt__),
            (outcome, audit_log.c.outcome.__eq__),
        ]
        for value, condition in filters:
            if value is not None:
                query = query.where(condition(value))
        rows = await self._session.execute(query)
        entries = []
        for row in rows:
            values = dict(row._mapping)
            values["entry_id"] = values.pop("id")
            entries.append(AuditEntry(**values))
        return entries

    async def purge(self, before: datetime) -> int:
        """Delete entries older than ``before``; how many."""
        result = await self._session.execute(delete(audit_log).where(audit_log.c.at < before))
        return int(getattr(result, "rowcount", 0) or 0)

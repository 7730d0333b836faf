"""Sign-in: passwords and OIDC give an access token and a rotating refresh token."""

import uuid
from dataclasses import dataclass
from datetime import timedelta

from helpline_identity.adapters import crypto
from helpline_identity.domain.errors import (
    InvalidCredentials,
    RefreshReused,
    TenantUnavailable,
    TooManyAttempts,
)
from helpline_identity.domain.model import LoginThrottle, RefreshToken, Role, SigningKey, User
from helpline_identity.service_layer.context import Context, UnitOfWorkFactory, audit_apart
from helpline_identity.service_layer.directory import add_user
from helpline_identity.service_layer.keys import current_signing_key
from helpline_identity.service_layer.unit_of_work import IdentityUnitOfWork
from helpline_shared.runtime.credentials import hash_secret

REFRESH_PREFIX = "hlr_"


@dataclass(frozen=True)
class TokenPolicy:
    """What identity puts in the tokens it signs, and how long they live."""

    issuer: str
    audience: str
    access_lifetime: timedelta
    refresh_lifetime: timedelta
    throttle: LoginThrottle


@dataclass(frozen=True)
class Tokens:
    """The answer of a sign-in or a refresh."""

    access_token: str
    expires_in: int
    refresh_token: str


async def _issue(
    uow: IdentityUnitOfWork,
    context: Context,
    policy: TokenPolicy,
    key: SigningKey,
    user: User,
    family_id: str,
) -> Tokens:
    """Sign an access token and store the next refresh token of ``family_id`` (in ``uow``)."""
    refresh, digest = crypto.new_secret(REFRESH_PREFIX)
    await uow.refresh_tokens.add(
        RefreshToken(
            token_id=uuid.uuid4().hex,
            family_id=family_id,
            tenant_id=user.tenant_id,
            user_id=user.user_id,
            token_hash=digest,
            expires_at=context.now + policy.refresh_lifetime,
        )
    )
    issued = int(context.now.timestamp())
    lifetime = int(policy.access_lifetime.total_seconds())
    access = crypto.sign(
        key,
        {
            "iss": policy.issuer,
            "aud": policy.audience,
            "sub": user.user_id,
            "tenant": user.tenant_id,
            "role": user.role,
            "teams": list(user.teams),
            "iat": issued,
            "nbf": issued,
            "exp": issued + lifetime,
            "jti": uuid.uuid4().hex,
        },
    )
    return Tokens(access, lifetime, refresh)


async def login(
    unit_of_work: UnitOfWorkFactory,
    context: Context,
    policy: TokenPolicy,
    *,
    tenant_id: str,
    email: str,
    password: str,
) -> Tokens:
    """Check a password; failures are audited and throttled per account."""
    account = f"{tenant_id}/{email.lower()}"
    key = await current_signing_key(unit_of_work(), context.now)
    async with unit_of_work() as uow:
        failures = await uow.audit.failures(account, context.now - policy.throttle.window)
        wait = policy.throttle.retry_after(failures, context.now)
        user = await uow.users.by_email(tenant_id, email)
        tenant = await uow.tenants.get(tenant_id)
        valid = crypto.check_password(user.password_hash if user else None, password)
        reason = (
            "locked"
            if wait is not None
            else "password"
            if not valid or user is None
            else "inactive"
            if not user.active
            else "tenant"
            if tenant is None or tenant.state != "active"
            else None
        )
        if reason is None and user is not None:
            tokens = await _issue(uow, context, policy, key, user, uuid.uuid4().hex)
            await uow.audit.add(
                context.entry(
                    "login", tenant_id=tenant_id, target=account, actor=f"user:{user.user_id}"
                )
            )
            await uow.commit()
            return tokens
    await audit_apart(
        unit_of_work,
        context,
        "login",
        tenant_id=tenant_id,
        target=account,
        outcome="denied" if reason == "locked" else "failed",
        reason=str(reason),
    )
    if wait is not None:
        raise TooManyAttempts(wait)
    raise InvalidCredentials("wrong tenant, email or password")


async def refresh(
    unit_of_work: UnitOfWorkFactory, context: Context, policy: TokenPolicy, token: str
) -> Tokens:
    """Exchange a refresh token for new tokens; a reused one revokes its whole family."""
    key = await current_signing_key(unit_of_work(), context.now)
    async with unit_of_work() as uow:
        stored = await uow.refresh_tokens.by_hash(hash_secret(token))
        if stored is None or stored.revoked_at is not None or stored.expires_at <= context.now:
            raise InvalidCredentials("unknown, expired or revoked refresh token")
        if stored.used_at is not None:
            await uow.refresh_tokens.revoke_family(stored.family_id, context.now)
            await uow.audit.add(
                context.entry(
                    "refresh.reuse",
                    tenant_id=stored.tenant_id,
                    outcome="denied",
                    target=f"user:{stored.user_id}",
                    family=stored.family_id,
                )
            )
            await uow.commit()
            raise RefreshReused("the refresh token was already used; its family is revoked")
        user = await uow.users.get(stored.tenant_id, stored.user_id)
        tenant = await uow.tenants.get(stored.tenant_id)
        if user is None or not user.active or tenant is None or tenant.state != "active":
            raise InvalidCredentials("the account or its tenant is not active")
        await uow.refresh_tokens.mark_used(stored.token_id, context.now)
        tokens = await _issue(uow, context, policy, key, user, stored.family_id)
        await uow.commit()
        return tokens


async def logout(unit_of_work: UnitOfWorkFactory, context: Context, token: str) -> None:
    """Revoke the refresh token's family; an unknown token is not an error."""
    async with unit_of_work() as uow:
        stored = await uow.refresh_tokens.by_hash(hash_secret(token))
        if stored is not None:
            await uow.refresh_tokens.revoke_family(stored.family_id, context.now)
            await uow.audit.add(
                context.entry("logout", tenant_id=stored.tenant_id, target=f"user:{stored.user_id}")
            )
            await uow.commit()


async def sign_in_external(
    unit_of_work: UnitOfWorkFactory,
    context: Context,
    policy: TokenPolicy,
    *,
    tenant_id: str,
    email: str,
    name: str,
    role: Role,
    provision: bool,
    provider: str,
) -> Tokens:
    """Tokens for a person an OIDC provider vouched for; created on first sign-in if allowed.

    The provider's role mapping is authoritative: a changed role is applied at sign-in.
    """
    key = await current_signing_key(unit_of_work(), context.now)
    async with unit_of_work() as uow:
        tenant = await uow.tenants.get(tenant_id)
        if tenant is None or tenant.state != "active":
            raise TenantUnavailable(f"tenant {tenant_id} is not active")
        user = await uow.users.by_email(tenant_id, email)
        if user is None:
            if not provision:
                raise InvalidCredentials("no such user in the tenant")
            user = User(tenant_id, uuid.uuid4().hex, name, email.lower(), role)
            await add_user(uow, context, user)
        elif not user.active:
            raise InvalidCredentials("the account is deactivated")
        elif user.role != role:
            user.role = role
            await uow.users.save(user)
        tokens = await _issue(uow, context, policy, key, user, uuid.uuid4().hex)
        await uow.audit.add(
            context.entry(
                "login.oidc",
                tenant_id=tenant_id,
                target=f"{tenant_id}/{user.email}",
                actor=f"user:{user.user_id}",
                provider=provider,
            )
        )
        await uow.commit()
        return tokens

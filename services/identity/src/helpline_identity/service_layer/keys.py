"""API keys, signing keys, the JWKS, introspection and the revocation list."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from helpline_identity.adapters import crypto
from helpline_identity.domain.errors import Forbidden, InvalidCredentials, NotFound
from helpline_identity.domain.model import (
    SCOPES,
    SERVICE_KEYS,
    ApiKey,
    SigningKey,
    rotation_times,
    signing_key_at,
)
from helpline_identity.service_layer.context import Context, active_tenant, permit
from helpline_identity.service_layer.unit_of_work import IdentityUnitOfWork
from helpline_shared.events import ApiKeyCreated, ApiKeyRevoked
from helpline_shared.runtime.credentials import API_KEY_PREFIX, hash_secret


@dataclass(frozen=True)
class CreatedKey:
    """A new key and its secret, shown to the caller this once."""

    key: ApiKey
    secret: str


async def create_api_key(
    uow: IdentityUnitOfWork,
    context: Context,
    tenant_id: str,
    *,
    name: str,
    scopes: tuple[str, ...],
    expires_at: datetime | None,
    user_id: str | None,
) -> CreatedKey:
    """Create a key with ``scopes`` (admin); bound to a user, it dies with their account."""
    permit(context, "api_keys.manage", tenant_id)
    async with uow:
        await active_tenant(uow, tenant_id)
        if user_id is not None:
            user = await uow.users.get(tenant_id, user_id)
            if user is None or not user.active:
                raise NotFound("user not found")
        created = await _issue(
            uow,
            context,
            tenant_id,
            name=name,
            scopes=scopes,
            expires_at=expires_at,
            user_id=user_id,
        )
        uow.publish(
            ApiKeyCreated(
                tenant_id=tenant_id,
                key_id=created.key.key_id,
                prefix=created.key.prefix,
                scopes=scopes,
                user_id=user_id,
                expires_at=expires_at,
                occurred_at=context.now,
            )
        )
        await uow.commit()
    return created


async def create_service_key(
    uow: IdentityUnitOfWork, context: Context, *, service: str, scopes: tuple[str, ...]
) -> CreatedKey:
    """Create a key a Helpline service acts with, for the tenant each request names (operator)."""
    permit(context, "service_keys.manage", SERVICE_KEYS)
    async with uow:
        created = await _issue(uow, context, SERVICE_KEYS, name=service, scopes=scopes)
        await uow.commit()
    return created


async def _issue(
    uow: IdentityUnitOfWork,
    context: Context,
    tenant_id: str,
    *,
    name: str,
    scopes: tuple[str, ...],
    expires_at: datetime | None = None,
    user_id: str | None = None,
) -> CreatedKey:
    """Store a new key (API or service key) as its hash, audited; the caller commits."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise Forbidden(f"unknown scope(s): {', '.join(unknown)}")
    secret, digest = crypto.new_secret(API_KEY_PREFIX)
    key = ApiKey(
        tenant_id=tenant_id,
        key_id=uuid.uuid4().hex,
        name=name,
        prefix=secret[:12],
        key_hash=digest,
        scopes=scopes,
        created_at=context.now,
        user_id=user_id,
        expires_at=expires_at,
    )
    await uow.api_keys.add(key)
    await uow.audit.add(
        context.entry(
            f"{_kind(key)}.create",
            tenant_id=_audited_tenant(key),
            target=f"{_kind(key)}:{key.key_id}",
            scopes=" ".join(scopes),
        )
    )
    return CreatedKey(key, secret)


def _kind(key: ApiKey) -> str:
    return "service_key" if key.service else "api_key"


def _audited_tenant(key: ApiKey) -> str | None:
    return None if key.service else key.tenant_id


async def list_api_keys(uow: IdentityUnitOfWork, context: Context, tenant_id: str) -> list[ApiKey]:
    """The tenant's keys (admin)."""
    permit(context, "api_keys.manage", tenant_id)
    async with uow:
        return await uow.api_keys.of_tenant(tenant_id)


async def list_service_keys(uow: IdentityUnitOfWork, context: Context) -> list[ApiKey]:
    """Every service key (operator)."""
    permit(context, "service_keys.manage", SERVICE_KEYS)
    async with uow:
        return await uow.api_keys.of_tenant(SERVICE_KEYS)


async def revoke_api_key(
    uow: IdentityUnitOfWork, context: Context, tenant_id: str, key_id: str
) -> None:
    """Revoke a key (admin); revoking twice is fine."""
    permit(context, "api_keys.manage", tenant_id)
    await _revoke(uow, context, tenant_id, key_id)


async def revoke_service_key(uow: IdentityUnitOfWork, context: Context, key_id: str) -> None:
    """Revoke a service key (operator); it is listed in the revocations like an API key."""
    permit(context, "service_keys.manage", SERVICE_KEYS)
    await _revoke(uow, context, SERVICE_KEYS, key_id)


async def _revoke(uow: IdentityUnitOfWork, context: Context, tenant_id: str, key_id: str) -> None:
    async with uow:
        key = await uow.api_keys.get(tenant_id, key_id)
        if key is None:
            raise NotFound(f"{_kind_name(tenant_id)} not found")
        if key.revoked_at is None:
            await uow.api_keys.mark(key_id, revoked_at=context.now)
            if not key.service:
                uow.publish(
                    ApiKeyRevoked(tenant_id=tenant_id, key_id=key_id, occurred_at=context.now)
                )
            await uow.audit.add(
                context.entry(
                    f"{_kind(key)}.revoke",
                    tenant_id=_audited_tenant(key),
                    target=f"{_kind(key)}:{key_id}",
                )
            )
        await uow.commit()


def _kind_name(tenant_id: str) -> str:
    return "service key" if tenant_id == SERVICE_KEYS else "API key"


async def authenticate_api_key(uow: IdentityUnitOfWork, secret: str, now: datetime) -> ApiKey:
    """The usable key of ``secret`` (its tenant active, or a service's), its use recorded."""
    async with uow:
        key = await uow.api_keys.by_hash(hash_secret(secret))
        if key is None or not key.usable(now):
            raise InvalidCredentials("unknown, expired or revoked API key")
        if key.service is None:
            tenant = await uow.tenants.get(key.tenant_id)
            if tenant is None or tenant.state != "active":
                raise InvalidCredentials("the key's tenant is not active")
        if key.user_id is not None:
            user = await uow.users.get(key.tenant_id, key.user_id)
            if user is None or not user.active:
                raise InvalidCredentials("the key's user is deactivated")
        if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
            await uow.api_keys.mark(key.key_id, last_used_at=now)
            await uow.commit()
        return key


@dataclass(frozen=True)
class Revocations:
    """What services must refuse although its signature or cache says otherwise."""

    tenants: list[str]
    users: list[tuple[str, str]]
    api_keys: list[str]


async def revocations(uow: IdentityUnitOfWork, now: datetime, horizon: timedelta) -> Revocations:
    """Unavailable tenants, and users and keys revoked within ``horizon`` (a token's lifetime)."""
    async with uow:
        return Revocations(
            tenants=await uow.tenants.unavailable(),
            users=await uow.users.deactivated_since(now - horizon),
            api_keys=await uow.api_keys.revoked_since(now - horizon),
        )


async def current_signing_key(uow: IdentityUnitOfWork, now: datetime) -> SigningKey:
    """The key that signs now, created on first use."""
    async with uow:
        key = signing_key_at(await uow.signing_keys.all(), now)
        if key is None:
            key = crypto.new_signing_key(now, now)
            await uow.signing_keys.add(key)
            await uow.commit()
        return key


async def published_keys(uow: IdentityUnitOfWork, now: datetime) -> list[dict[str, str]]:
    """The public JWKs of every key not retired (the next one included)."""
    async with uow:
        return [key.public_jwk for key in await uow.signing_keys.all() if key.published(now)]


async def rotate_signing_key(
    uow: IdentityUnitOfWork, context: Context, publish_lead: timedelta, token_lifetime: timedelta
) -> SigningKey:
    """Publish a new key that signs after ``publish_lead``; retire the others after that."""
    permit(context, "signing_keys.manage", "*")
    signs_from, retire_at = rotation_times(context.now, publish_lead, token_lifetime)
    async with uow:
        old = [key.kid for key in await uow.signing_keys.all() if key.retire_at is None]
        key = crypto.new_signing_key(context.now, signs_from)
        await uow.signing_keys.retire(old, retire_at)
        await uow.signing_keys.add(key)
        await uow.audit.add(
            context.entry("signing_key.rotate", tenant_id=None, target=f"signing_key:{key.kid}")
        )
        await uow.commit()
    return key


async def purge_retired_keys(uow: IdentityUnitOfWork, now: datetime) -> int:
    """Delete keys that have left the JWKS."""
    async with uow:
        removed = await uow.signing_keys.remove_retired(now)
        await uow.commit()
        return removed

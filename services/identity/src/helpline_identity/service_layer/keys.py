"""API keys, signing keys, the JWKS, introspection and the revocation list."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from helpline_identity.adapters import crypto
from helpline_identity.domain.errors import Forbidden, InvalidCredentials, NotFound
from helpline_identity.domain.model import (
    SCOPES,
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


async def create_api_key(uow: IdentityUnitOfWork, context: Context, tenant_id: str, *,
                         name: str, scopes: tuple[str, ...], expires_at: datetime | None,
                         user_id: str | None) -> CreatedKey:
    """Create a key with ``scopes`` (admin); bound to a user, it dies with their account."""
    permit(context, "api_keys.manage", tenant_id)
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise Forbidden(f"unknown scope(s): {', '.join(unknown)}")
    async with uow:
        await active_tenant(uow, tenant_id)
        if user_id is not None:
            user = await uow.users.get(tenant_id, user_id)
            if user is None or not user.active:
                raise NotFound("user not found")
        secret, digest = crypto.new_secret(API_KEY_PREFIX)
        key = ApiKey(tenant_id=tenant_id, key_id=uuid.uuid4().hex, name=name,
                     prefix=secret[:12], key_hash=digest, scopes=scopes,
                     created_at=context.now, user_id=user_id, expires_at=expires_at)
        await uow.api_keys.add(key)
        uow.publish(ApiKeyCreated(tenant_id=tenant_id, key_id=key.key_id, prefix=key.prefix,
                                  scopes=scopes, user_id=user_id, expires_at=expires_at,
                                  occurred_at=context.now))
        await uow.audit.add(context.entry("api_key.create", tenant_id=tenant_id,
                                          target=f"api_key:{key.key_id}",
                                          scopes=" ".join(scopes)))
        await uow.commit()
    return CreatedKey(key, secret)


async def list_api_keys(uow: IdentityUnitOfWork, context: Context, tenant_id: str) -> list[ApiKey]:
    """The tenant's keys (admin)."""
    permit(context, "api_keys.manage", tenant_id)
    async with uow:
        return await uow.api_keys.of_tenant(tenant_id)


async def revoke_api_key(uow: IdentityUnitOfWork, context: Context, tenant_id: str,
                         key_id: str) -> None:
    """Revoke a key (admin); revoking twice is fine."""
    permit(context, "api_keys.manage", tenant_id)
    async with uow:
        key = await uow.api_keys.get(tenant_id, key_id)
        if key is None:
            raise NotFound("API key not found")
        if key.revoked_at is None:
            await uow.api_keys.mark(key_id, revoked_at=context.now)
            uow.publish(ApiKeyRevoked(tenant_id=tenant_id, key_id=key_id,
                                      occurred_at=context.now))
            await uow.audit.add(context.entry("api_key.revoke", tenant_id=tenant_id,
                                              target=f"api_key:{key_id}"))
        await uow.commit()


async def authenticate_api_key(uow: IdentityUnitOfWork, secret: str, now: datetime) -> ApiKey:
    """The usable key of ``secret`` in an active tenant (its last use recorded), else raise."""
    async with uow:
        key = await uow.api_keys.by_hash(hash_secret(secret))
        if key is None or not key.usable(now):
            raise InvalidCredentials("unknown, expired or revoked API key")
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
        return Revocations(tenants=await uow.tenants.unavailable(),
                           users=await uow.users.deactivated_since(now - horizon),
                           api_keys=await uow.api_keys.revoked_since(now - horizon))


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


async def rotate_signing_key(uow: IdentityUnitOfWork, context: Context, publish_lead: timedelta,
                             token_lifetime: timedelta) -> SigningKey:
    """Publish a new key that signs after ``publish_lead``; retire the others after that."""
    permit(context, "signing_keys.manage", "*")
    signs_from, retire_at = rotation_times(context.now, publish_lead, token_lifetime)
    async with uow:
        old = [key.kid for key in await uow.signing_keys.all() if key.retire_at is None]
        key = crypto.new_signing_key(context.now, signs_from)
        await uow.signing_keys.retire(old, retire_at)
        await uow.signing_keys.add(key)
        await uow.audit.add(context.entry("signing_key.rotate", tenant_id=None,
                                          target=f"signing_key:{key.kid}"))
        await uow.commit()
    return key


async def purge_retired_keys(uow: IdentityUnitOfWork, now: datetime) -> int:
    """Delete keys that have left the JWKS."""
    async with uow:
        removed = await uow.signing_keys.remove_retired(now)
        await uow.commit()
        return removed

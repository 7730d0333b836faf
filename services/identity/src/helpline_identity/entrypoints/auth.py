"""Who calls identity: its own access tokens, API keys, or the deployment operator key."""

import hmac
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import jwt
from fastapi import Request
from fastapi.security import HTTPBearer

from helpline_identity.domain.errors import Forbidden, InvalidCredentials
from helpline_identity.domain.permissions import Action, Caller, require
from helpline_identity.service_layer import keys
from helpline_identity.service_layer.context import Context, UnitOfWorkFactory, audit_apart
from helpline_shared.runtime.auth import declare_permission
from helpline_shared.runtime.credentials import (
    API_KEY_PREFIX,
    InvalidCredential,
    decode_access_token,
    hash_secret,
    token_kid,
)

_bearer = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class Authenticator:
    """Resolves the bearer of a request to a ``Caller`` against identity's own database."""

    unit_of_work: UnitOfWorkFactory
    issuer: str
    audience: str
    operator_key_sha256: str | None
    clock: Callable[[], datetime]

    async def caller(self, bearer: str, now: datetime) -> Caller:
        """The caller of ``bearer``, or ``InvalidCredentials``."""
        if bearer.startswith(API_KEY_PREFIX):
            key = await keys.authenticate_api_key(self.unit_of_work(), bearer, now)
            if key.service:
                raise Forbidden("a service key acts at the other services, not at identity")
            return Caller(
                kind="integration",
                tenant_id=key.tenant_id,
                user_id=key.user_id,
                scopes=frozenset(key.scopes),
                credential_id=key.key_id,
            )
        if self.operator_key_sha256 and hmac.compare_digest(
            hash_secret(bearer), self.operator_key_sha256
        ):
            return Caller(kind="operator", tenant_id=None, credential_id="operator")
        try:
            kid = token_kid(bearer)
            published = {
                jwk["kid"]: jwk for jwk in await keys.published_keys(self.unit_of_work(), now)
            }
            if kid not in published:
                raise InvalidCredentials("unknown signing key")
            principal = decode_access_token(
                bearer, jwt.PyJWK(published[kid]), issuer=self.issuer, audience=self.audience
            )
        except InvalidCredential as error:
            raise InvalidCredentials(str(error)) from error
        async with self.unit_of_work() as uow:
            user = await uow.users.get(principal.tenant_id, principal.user_id or "")
            tenant = await uow.tenants.get(principal.tenant_id)
        if user is None or not user.active or tenant is None or tenant.state != "active":
            raise InvalidCredentials("the account or its tenant is not active")
        return Caller(
            kind="person",
            tenant_id=user.tenant_id,
            user_id=user.user_id,
            role=user.role,
            teams=frozenset(user.teams),
            credential_id=principal.credential_id,
        )

    async def context(self, request: Request) -> Context:
        """The request's context, its caller required; kept on ``request.state`` for auditing."""
        return await self.resolve(request, required=True)

    def requiring(self, action: Action) -> Callable[[Request], Awaitable[Context]]:
        """A dependency: the request's context, its caller required to hold ``action``.

        Checked before the use case looks anything up, so that a denied call is a 403 whatever
        its path names; the dependency declares ``action`` for OpenAPI and the matrix test.
        """

        async def dependency(request: Request) -> Context:
            try:
                context = await self.context(request)
            except InvalidCredentials as error:
                await audit_apart(
                    self.unit_of_work,
                    request.state.context,
                    "credential.refused",
                    tenant_id=None,
                    target=f"{request.method} {request.url.path}",
                    outcome="failed",
                    permission=action,
                    reason=str(error)[:200],
                )
                raise
            if context.caller is not None:
                require(context.caller, action)
            return context

        declare_permission(dependency, action)
        return dependency

    async def anonymous(self, request: Request) -> Context:
        """The request's context for routes that need no credential."""
        return await self.resolve(request, required=False)

    async def resolve(self, request: Request, *, required: bool) -> Context:
        """The request's context, its caller resolved when a bearer is present."""
        now = self.clock()
        context = Context(
            now=now,
            request_id=request.headers.get("x-request-id") or uuid.uuid4().hex,
            source=request.client.host if request.client else None,
        )
        request.state.context = context
        credentials = await _bearer(request)
        if credentials is None:
            if required:
                raise InvalidCredentials("a bearer credential is required")
            return context
        caller = await self.caller(credentials.credentials, now)
        context = Context(
            now=now, caller=caller, request_id=context.request_id, source=context.source
        )
        request.state.context = context
        return context

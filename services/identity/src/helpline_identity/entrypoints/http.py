"""Identity's HTTP API: parse, call one use case, map the result; errors as problem+json."""

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from helpline_identity.adapters.oidc import OidcClient
from helpline_identity.domain.errors import (
    Conflict,
    Forbidden,
    IdentityError,
    InvalidCredentials,
    NotFound,
    ReturnUrlRefused,
    TenantUnavailable,
    TooManyAttempts,
)
from helpline_identity.domain.permissions import Action
from helpline_identity.entrypoints import schemas
from helpline_identity.entrypoints.auth import Authenticator
from helpline_identity.service_layer import audit, directory, keys, sessions
from helpline_identity.service_layer.context import Context, UnitOfWorkFactory, audit_apart
from helpline_shared.runtime.auth import route_permission
from helpline_shared.runtime.problems import problem

_STATUS = {
    NotFound: 404,
    Conflict: 409,
    InvalidCredentials: 401,
    Forbidden: 403,
    TenantUnavailable: 403,
    TooManyAttempts: 429,
}


def install_error_handler(app: FastAPI, unit_of_work: UnitOfWorkFactory) -> None:
    """Map identity's errors to problems; audit permission denials."""

    async def handle(request: Request, error: Exception) -> JSONResponse:
        status = next((code for kind, code in _STATUS.items() if isinstance(error, kind)), 400)
        context: Context | None = getattr(request.state, "context", None)
        if isinstance(error, Forbidden) and context is not None and context.caller is not None:
            route = request.scope.get("route")
            await audit_apart(
                unit_of_work,
                context,
                "permission.denied",
                tenant_id=context.caller.tenant_id,
                target=f"{request.method} {request.url.path}",
                outcome="denied",
                permission=(route_permission(route) if route else None) or "",
            )
        response = problem(
            status,
            {
                401: "Unauthorized",
                403: "Forbidden",
                404: "Not found",
                409: "Conflict",
                429: "Too many requests",
            }.get(status, "Error"),
            str(error),
        )
        if isinstance(error, TooManyAttempts):
            response.headers["Retry-After"] = str(error.retry_after)
        if status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    app.add_exception_handler(IdentityError, handle)


def _tenant(context: Context) -> str:
    caller = context.caller
    if caller is None or caller.tenant_id is None:
        raise Forbidden("this route acts in the caller's tenant; the operator has none")
    return caller.tenant_id


@dataclass(frozen=True)
class OidcReturns:
    """Where a browser's OIDC sign-in may return, and how long its one-time code lives."""

    urls: frozenset[str]
    code_lifetime: timedelta


def router(
    unit_of_work: UnitOfWorkFactory,
    authenticator: Authenticator,
    policy: sessions.TokenPolicy,
    publish_lead: timedelta,
    oidc: dict[str, OidcClient],
    returns: OidcReturns,
) -> APIRouter:
    """Every route of identity."""
    api = APIRouter(tags=["identity"])

    def needs(action: Action) -> Any:
        return Depends(authenticator.requiring(action))

    Operator = Annotated[Context, needs("tenants.manage")]
    ManagesUsers = Annotated[Context, needs("users.manage")]
    ReadsUsers = Annotated[Context, needs("users.read")]
    ManagesTeams = Annotated[Context, needs("teams.manage")]
    ReadsTeams = Annotated[Context, needs("teams.read")]
    ManagesKeys = Annotated[Context, needs("api_keys.manage")]
    RotatesKeys = Annotated[Context, needs("signing_keys.manage")]
    ReadsAudit = Annotated[Context, needs("audit.read")]
    ManagesServiceKeys = Annotated[Context, needs("service_keys.manage")]
    Anyone = Annotated[Context, Depends(authenticator.anonymous)]

    @api.post("/v1/tenants", status_code=201, response_model=schemas.TenantOut)
    async def create_tenant(body: schemas.TenantIn, context: Operator) -> schemas.TenantOut:
        """Create a tenant, optionally with its first admin (operator)."""
        admin = body.admin and directory.FirstAdmin(
            body.admin.name,
            str(body.admin.email),
            body.admin.password.get_secret_value() if body.admin.password else None,
        )
        return schemas.TenantOut.of(
            await directory.create_tenant(
                unit_of_work(), context, body.tenant_id, body.name, admin or None
            )
        )

    @api.get("/v1/tenants", response_model=list[schemas.TenantOut])
    async def list_tenants(context: Operator) -> list[schemas.TenantOut]:
        """Every tenant (operator)."""
        return [
            schemas.TenantOut.of(t) for t in await directory.list_tenants(unit_of_work(), context)
        ]

    @api.post("/v1/tenants/{tenant_id}/suspend", response_model=schemas.TenantOut)
    async def suspend_tenant(tenant_id: str, context: Operator) -> schemas.TenantOut:
        """Suspend a tenant: its credentials are refused everywhere (operator)."""
        return schemas.TenantOut.of(
            await directory.set_tenant_state(unit_of_work(), context, tenant_id, "suspended")
        )

    @api.post("/v1/tenants/{tenant_id}/resume", response_model=schemas.TenantOut)
    async def resume_tenant(tenant_id: str, context: Operator) -> schemas.TenantOut:
        """Resume a suspended tenant (operator)."""
        return schemas.TenantOut.of(
            await directory.set_tenant_state(unit_of_work(), context, tenant_id, "active")
        )

    @api.delete("/v1/tenants/{tenant_id}", status_code=204)
    async def delete_tenant(tenant_id: str, context: Operator) -> Response:
        """Delete a tenant's users, teams and keys (operator)."""
        await directory.set_tenant_state(unit_of_work(), context, tenant_id, "deleted")
        return Response(status_code=204)

    @api.post("/v1/users", status_code=201, response_model=schemas.UserOut)
    async def create_user(body: schemas.UserIn, context: ManagesUsers) -> schemas.UserOut:
        """Create a person in the caller's tenant (admin)."""
        return schemas.UserOut.of(
            await directory.create_user(
                unit_of_work(),
                context,
                _tenant(context),
                name=body.name,
                email=str(body.email),
                role=body.role,
                teams=tuple(body.teams),
                password=body.password.get_secret_value() if body.password else None,
            )
        )

    @api.get("/v1/users", response_model=list[schemas.UserOut])
    async def list_users(context: ReadsUsers) -> list[schemas.UserOut]:
        """The people the caller may see."""
        return [
            schemas.UserOut.of(u)
            for u in await directory.list_users(unit_of_work(), context, _tenant(context))
        ]

    @api.get("/v1/me", response_model=schemas.UserOut)
    async def me(context: ReadsUsers) -> schemas.UserOut:
        """The signed-in person."""
        user_id = context.caller.user_id if context.caller else None
        if not user_id:
            raise NotFound("this credential is not a person's")
        return schemas.UserOut.of(
            await directory.get_user(unit_of_work(), context, _tenant(context), user_id)
        )

    @api.get("/v1/users/{user_id}", response_model=schemas.UserOut)
    async def get_user(user_id: str, context: ReadsUsers) -> schemas.UserOut:
        """One person, if the caller may see them."""
        return schemas.UserOut.of(
            await directory.get_user(unit_of_work(), context, _tenant(context), user_id)
        )

    @api.patch("/v1/users/{user_id}", response_model=schemas.UserOut)
    async def update_user(
        user_id: str, body: schemas.UserPatch, context: ManagesUsers
    ) -> schemas.UserOut:
        """Change a person; ``active: false`` deactivates them everywhere (admin)."""
        return schemas.UserOut.of(
            await directory.update_user(
                unit_of_work(),
                context,
                _tenant(context),
                user_id,
                name=body.name,
                email=str(body.email) if body.email else None,
                role=body.role,
                teams=tuple(body.teams) if body.teams is not None else None,
                password=body.password.get_secret_value() if body.password else None,
                active=body.active,
            )
        )

    @api.post("/v1/teams", status_code=201, response_model=schemas.TeamOut)
    async def create_team(body: schemas.TeamIn, context: ManagesTeams) -> schemas.TeamOut:
        """Create a team (admin)."""
        return schemas.TeamOut.of(
            await directory.create_team(
                unit_of_work(), context, _tenant(context), body.team_id, body.name
            )
        )

    @api.get("/v1/teams", response_model=list[schemas.TeamOut])
    async def list_teams(context: ReadsTeams) -> list[schemas.TeamOut]:
        """The teams the caller may see."""
        return [
            schemas.TeamOut.of(t)
            for t in await directory.list_teams(unit_of_work(), context, _tenant(context))
        ]

    @api.delete("/v1/teams/{team_id}", status_code=204)
    async def delete_team(team_id: str, context: ManagesTeams) -> Response:
        """Delete a team (admin)."""
        await directory.delete_team(unit_of_work(), context, _tenant(context), team_id)
        return Response(status_code=204)

    @api.post("/v1/api-keys", status_code=201, response_model=schemas.ApiKeyCreatedOut)
    async def create_api_key(
        body: schemas.ApiKeyIn, context: ManagesKeys
    ) -> schemas.ApiKeyCreatedOut:
        """Create an API key; its secret is in this answer only (admin)."""
        created = await keys.create_api_key(
            unit_of_work(),
            context,
            _tenant(context),
            name=body.name,
            scopes=tuple(body.scopes),
            expires_at=body.expires_at,
            user_id=body.user_id,
        )
        return schemas.ApiKeyCreatedOut(
            id=created.key.key_id,
            key=created.secret,
            prefix=created.key.prefix,
            scopes=list(created.key.scopes),
            expires_at=created.key.expires_at,
        )

    @api.get("/v1/api-keys", response_model=list[schemas.ApiKeyOut])
    async def list_api_keys(context: ManagesKeys) -> list[schemas.ApiKeyOut]:
        """The tenant's keys: prefixes, scopes, expiry, last use (admin)."""
        return [
            schemas.ApiKeyOut.of(k)
            for k in await keys.list_api_keys(unit_of_work(), context, _tenant(context))
        ]

    @api.delete("/v1/api-keys/{key_id}", status_code=204)
    async def revoke_api_key(key_id: str, context: ManagesKeys) -> Response:
        """Revoke a key (admin)."""
        await keys.revoke_api_key(unit_of_work(), context, _tenant(context), key_id)
        return Response(status_code=204)

    @api.post("/v1/service-keys", status_code=201, response_model=schemas.ServiceKeyCreatedOut)
    async def create_service_key(
        body: schemas.ServiceKeyIn, context: ManagesServiceKeys
    ) -> schemas.ServiceKeyCreatedOut:
        """Create a key a service acts with for the tenant it names; shown once (operator)."""
        created = await keys.create_service_key(
            unit_of_work(), context, service=body.service, scopes=tuple(body.scopes)
        )
        return schemas.ServiceKeyCreatedOut(
            id=created.key.key_id,
            key=created.secret,
            prefix=created.key.prefix,
            service=body.service,
            scopes=list(created.key.scopes),
        )

    @api.get("/v1/service-keys", response_model=list[schemas.ServiceKeyOut])
    async def list_service_keys(context: ManagesServiceKeys) -> list[schemas.ServiceKeyOut]:
        """Every service key: prefixes, services, scopes, last use (operator)."""
        return [
            schemas.ServiceKeyOut.of(k)
            for k in await keys.list_service_keys(unit_of_work(), context)
        ]

    @api.delete("/v1/service-keys/{key_id}", status_code=204)
    async def revoke_service_key(key_id: str, context: ManagesServiceKeys) -> Response:
        """Revoke a service key (operator)."""
        await keys.revoke_service_key(unit_of_work(), context, key_id)
        return Response(status_code=204)

    @api.post("/v1/login", response_model=schemas.TokensOut)
    async def login(body: schemas.LoginIn, context: Anyone) -> schemas.TokensOut:
        """Sign in with a password."""
        tokens = await sessions.login(
            unit_of_work,
            context,
            policy,
            tenant_id=body.tenant,
            email=str(body.email),
            password=body.password.get_secret_value(),
        )
        return _tokens(tokens)

    @api.post("/v1/refresh", response_model=schemas.TokensOut)
    async def refresh(body: schemas.RefreshIn, context: Anyone) -> schemas.TokensOut:
        """Exchange a refresh token (it is used up; a reused one revokes its family)."""
        return _tokens(await sessions.refresh(unit_of_work, context, policy, body.refresh_token))

    @api.post("/v1/logout", status_code=204)
    async def logout(body: schemas.RefreshIn, context: Anyone) -> Response:
        """Revoke the refresh token's family."""
        await sessions.logout(unit_of_work, context, body.refresh_token)
        return Response(status_code=204)

    @api.get("/.well-known/jwks.json")
    async def jwks(context: Anyone) -> dict[str, Any]:
        """The public keys access tokens are verified with (the next one included)."""
        await keys.current_signing_key(unit_of_work(), context.now)
        return {"keys": await keys.published_keys(unit_of_work(), context.now)}

    @api.post("/v1/signing-keys/rotate", status_code=201)
    async def rotate(context: RotatesKeys) -> dict[str, Any]:
        """Publish a new signing key now; it signs after the publish lead (operator)."""
        key = await keys.rotate_signing_key(
            unit_of_work(), context, publish_lead, policy.access_lifetime
        )
        return {"kid": key.kid, "signs_from": key.signs_from.isoformat()}

    @api.post("/v1/introspect")
    async def introspect(body: schemas.IntrospectIn, context: Anyone) -> dict[str, Any]:
        """Whether an API or service key is usable now, and what it may do (for the services)."""
        try:
            key = await keys.authenticate_api_key(unit_of_work(), body.token, context.now)
        except InvalidCredentials:
            return {"active": False}
        if key.service:
            return {
                "active": True,
                "key_id": key.key_id,
                "service": key.service,
                "scopes": list(key.scopes),
                "tenant_id": None,
            }
        return {
            "active": True,
            "key_id": key.key_id,
            "tenant_id": key.tenant_id,
            "user_id": key.user_id,
            "scopes": list(key.scopes),
            "exp": int(key.expires_at.timestamp()) if key.expires_at else None,
        }

    @api.get("/v1/revocations")
    async def revocations(context: Anyone) -> dict[str, Any]:
        """Tenants not active, and users and keys revoked within an access token's lifetime."""
        found = await keys.revocations(
            unit_of_work(), context.now, policy.access_lifetime + timedelta(minutes=1)
        )
        return {
            "tenants": found.tenants,
            "api_keys": found.api_keys,
            "users": [{"tenant_id": t, "user_id": u} for t, u in found.users],
        }

    @api.get("/v1/audit", response_model=schemas.AuditPage)
    async def audit_log(
        context: ReadsAudit,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        outcome: Literal["ok", "denied", "failed"] | None = None,
        cursor: str | None = Query(default=None, max_length=40),
        limit: int = Query(default=50, ge=1, le=500),
    ) -> schemas.AuditPage:
        """The tenant's audit entries, newest first, filtered; ``next`` pages on (admin).

        ``outcome=denied`` lists the permission denials of every service.
        """
        entries = await audit.search(
            unit_of_work(),
            context,
            _tenant(context),
            limit=limit,
            before_id=_cursor(cursor),
            actor=actor,
            action=action,
            target=target,
            since=since,
            until=until,
            outcome=outcome,
        )
        last = entries[-1].entry_id if len(entries) == limit else None
        return schemas.AuditPage(
            entries=[schemas.AuditOut.of(e) for e in entries],
            next=base64.urlsafe_b64encode(str(last).encode()).decode() if last else None,
        )

    @api.get("/v1/oidc/providers", response_model=list[schemas.OidcProviderOut])
    async def oidc_providers(context: Anyone) -> list[schemas.OidcProviderOut]:
        """The OIDC providers people may sign in with (for sign-in pages)."""
        return [
            schemas.OidcProviderOut(
                name=name, display_name=client.provider.display_name or name.title()
            )
            for name, client in oidc.items()
        ]

    @api.get("/v1/oidc/{provider}/login")
    async def oidc_login(
        provider: str,
        context: Anyone,
        return_to: Annotated[
            str | None,
            Query(
                max_length=2000,
                description="Send the browser here with a one-time code "
                "(one of HELPLINE_OIDC_RETURN_URLS); without it the callback answers tokens",
            ),
        ] = None,
        client_state: Annotated[
            schemas.ClientState | None,
            Query(description="Returned with the code and needed to exchange it (with return_to)"),
        ] = None,
    ) -> RedirectResponse:
        """Start signing in at an OIDC provider (authorization code with PKCE)."""
        client = oidc.get(provider)
        if client is None:
            raise NotFound("no such sign-in provider")
        if return_to is not None and return_to not in returns.urls:
            raise ReturnUrlRefused("return_to: not one of identity's allowed return URLs")
        if return_to is not None and client_state is None:
            raise ReturnUrlRefused("client_state: required with return_to")
        request = await client.authorization()
        async with unit_of_work() as uow:
            await uow.oidc_states.add(
                request.state,
                provider=provider,
                code_verifier=request.code_verifier,
                nonce=request.nonce,
                created_at=context.now,
                return_to=return_to,
                client_state=client_state if return_to else None,
            )
            await uow.commit()
        return RedirectResponse(request.url, status_code=302)

    @api.get("/v1/oidc/{provider}/callback", response_model=schemas.TokensOut)
    async def oidc_callback(
        provider: str,
        context: Anyone,
        state: str = Query(max_length=128),
        code: str | None = Query(default=None, max_length=2048),
        error: str | None = Query(default=None, max_length=200),
    ) -> schemas.TokensOut | RedirectResponse:
        """Finish an OIDC sign-in: tokens, or a redirect to the login's return_to with a code."""
        client = oidc.get(provider)
        if client is None:
            raise NotFound("no such sign-in provider")
        async with unit_of_work() as uow:
            pending = await uow.oidc_states.take(state)
            await uow.commit()
        if (
            pending is None
            or pending["provider"] != provider
            or (context.now - pending["created_at"] > timedelta(minutes=10))
        ):
            raise InvalidCredentials("unknown or expired sign-in state")
        return_to: str | None = pending["return_to"]
        if return_to is None:
            if code is None:
                raise InvalidCredentials(f"the provider refused the sign-in: {error}")
            person = await client.exchange(code, pending["code_verifier"], pending["nonce"])
            return _tokens(
                await sessions.sign_in_external(
                    unit_of_work,
                    context,
                    policy,
                    tenant_id=person.tenant_id,
                    email=person.email,
                    name=person.name,
                    role=person.role,
                    provision=client.provider.auto_provision,
                    provider=provider,
                )
            )
        client_state: str = pending["client_state"]
        try:
            if code is None:
                raise InvalidCredentials(f"the provider refused the sign-in: {error}")
            person = await client.exchange(code, pending["code_verifier"], pending["nonce"])
        except InvalidCredentials:
            return RedirectResponse(
                _with_query(return_to, error="access_denied", state=client_state), status_code=303
            )
        one_time = secrets.token_urlsafe(32)
        async with unit_of_work() as uow:
            await uow.oidc_codes.purge(context.now - returns.code_lifetime)
            await uow.oidc_codes.add(
                _sha256(one_time),
                client_state_sha256=_sha256(client_state),
                provider=provider,
                tenant_id=person.tenant_id,
                email=person.email,
                name=person.name,
                role=person.role,
                created_at=context.now,
            )
            await uow.commit()
        return RedirectResponse(
            _with_query(return_to, code=one_time, state=client_state), status_code=303
        )

    @api.post("/v1/oidc/exchange", response_model=schemas.OidcTokensOut)
    async def oidc_exchange(body: schemas.OidcExchangeIn, context: Anyone) -> schemas.OidcTokensOut:
        """Trade a browser's one-time sign-in code, with its client state, for tokens (once)."""
        async with unit_of_work() as uow:
            pending = await uow.oidc_codes.take(_sha256(body.code))
            await uow.commit()
        if (
            pending is None
            or context.now - pending["created_at"] > returns.code_lifetime
            or (not secrets.compare_digest(pending["client_state_sha256"], _sha256(body.state)))
        ):
            raise InvalidCredentials("unknown, used or expired sign-in code")
        client = oidc.get(pending["provider"])
        if client is None:
            raise InvalidCredentials("the sign-in provider is no longer configured")
        tokens = await sessions.sign_in_external(
            unit_of_work,
            context,
            policy,
            tenant_id=pending["tenant_id"],
            email=pending["email"],
            name=pending["name"],
            role=pending["role"],
            provision=client.provider.auto_provision,
            provider=pending["provider"],
        )
        return schemas.OidcTokensOut(tenant=pending["tenant_id"], **_tokens(tokens).model_dump())

    return api


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` added to its query."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _tokens(tokens: sessions.Tokens) -> schemas.TokensOut:
    return schemas.TokensOut(
        access_token=tokens.access_token,
        expires_in=tokens.expires_in,
        refresh_token=tokens.refresh_token,
    )


def _cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode())
    except ValueError as error:
        raise InvalidCursor("cursor: not a cursor this API gave") from error


class InvalidCursor(IdentityError):
    """A pagination cursor identity did not give out."""

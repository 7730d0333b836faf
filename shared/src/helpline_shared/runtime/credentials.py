"""Verifying identity's credentials in any service, without holding a signing key.

Access tokens (JWTs signed by identity) are verified offline against identity's JWKS, fetched
over HTTP, cached, and refetched on an unknown ``kid`` (at most once per ``min_refresh``
seconds). API keys (``hlk_...``) are introspected at identity and cached for ``key_ttl``
seconds (one introspection for concurrent callers); verified tokens are cached until they
expire. Revocation reaches every service through identity's revocation list (suspended
tenants, recently deactivated users, recently revoked keys), refetched when older than
``revocations_ttl`` seconds: with the defaults a revoked credential is refused within ~2 s.
When identity cannot be reached for longer than ``max_staleness`` seconds, credentials are
refused with ``IdentityUnavailable`` (503) rather than trusted blindly.
"""

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from helpline_shared.events import AuditRecorded

PrincipalKind = Literal["person", "integration", "service", "operator"]

API_KEY_PREFIX = "hlk_"
"""Every API key starts with this, so a bearer is told from a JWT without parsing it."""

ALGORITHMS = ["EdDSA"]


@dataclass(frozen=True)
class Principal:
    """Who is calling: a person, an integration (API key), a service or the operator."""

    kind: PrincipalKind
    tenant_id: str
    user_id: str | None = None
    role: str | None = None
    scopes: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    credential_id: str | None = None
    """The token's ``jti`` or the API key's id."""

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        if self.kind == "person":
            return f"user:{self.user_id}"
        if self.kind == "integration":
            return f"api_key:{self.credential_id}"
        return f"{self.kind}:{self.credential_id or '-'}"


class CredentialError(Exception):
    """A credential could not be accepted."""


class InvalidCredential(CredentialError):
    """Malformed, expired, wrongly signed, unknown or revoked: answer 401."""

    def __init__(self, message: str, principal: "Principal | None" = None) -> None:
        super().__init__(message)
        self.principal = principal
        """Whose credential it was, when it verified but is revoked (for the audit log)."""


class IdentityUnavailable(CredentialError):
    """Identity could not be asked for too long to trust what is cached: answer 503."""


class UnusableAnswer(httpx.HTTPError):
    """Identity answered, but not with what was asked for: as good as unreachable."""


def hash_secret(secret: str) -> str:
    """The stored form of a 256-bit random secret (an API or refresh token): SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """The principal an access token's verified claims describe."""
    try:
        role = str(claims["role"])
        return Principal(
            kind="person",
            tenant_id=str(claims["tenant"]),
            user_id=str(claims["sub"]),
            role=role,
            teams=frozenset(str(team) for team in claims.get("teams", ())),
            credential_id=str(claims.get("jti", "")) or None,
        )
    except (KeyError, TypeError) as error:
        raise InvalidCredential(f"the token lacks claim {error}") from error


def decode_access_token(
    token: str, key: Any, *, issuer: str, audience: str, leeway: float = 5
) -> Principal:
    """Check an access token's signature, ``iss``, ``aud``, ``exp`` and ``nbf``."""
    return principal_from_claims(
        verified_claims(token, key, issuer=issuer, audience=audience, leeway=leeway)
    )


def verified_claims(
    token: str, key: Any, *, issuer: str, audience: str, leeway: float = 5
) -> dict[str, Any]:
    """An access token's claims once its signature, ``iss``, ``aud``, ``exp`` and ``nbf`` hold."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=ALGORITHMS,
            audience=audience,
            issuer=issuer,
            leeway=leeway,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError as error:
        raise InvalidCredential(f"invalid token: {error}") from error
    return claims


def token_kid(token: str) -> str:
    """The ``kid`` of a JWT's header, unverified."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as error:
        raise InvalidCredential(f"not a token: {error}") from error
    if not isinstance(kid, str) or not kid:
        raise InvalidCredential("the token names no key (kid)")
    return kid


@dataclass
class _Revocations:
    tenants: frozenset[str] = frozenset()
    users: frozenset[tuple[str, str]] = frozenset()
    api_keys: frozenset[str] = frozenset()
    fetched_at: float | None = None


@dataclass
class _CachedKey:
    principal: Principal | None
    fetched_at: float
    former: Principal | None = None
    """Whose key it was while it was active (names the caller of a revoked key in the audit)."""
    expires_at: float | None = None
    """When the key expires (wall clock), if it does."""


@dataclass
class CredentialVerifier:
    """Verifies bearer credentials against one identity service (``identity_url``)."""

    identity_url: str
    issuer: str
    audience: str = "helpline"
    client: httpx.AsyncClient | None = None
    clock: Callable[[], float] = time.monotonic
    min_refresh: float = 5.0
    revocations_ttl: float = 1.0
    key_ttl: float = 2.0
    max_staleness: float = 30.0
    wall_clock: Callable[[], float] = time.time
    max_cached_tokens: int = 10_000
    _keys: dict[str, jwt.PyJWK] = field(default_factory=dict, init=False)
    _keys_fetched_at: float | None = field(default=None, init=False)
    _revocations: _Revocations = field(default_factory=_Revocations, init=False)
    _api_keys: dict[str, _CachedKey] = field(default_factory=dict, init=False)
    _introspecting: dict[str, "asyncio.Future[None]"] = field(default_factory=dict, init=False)
    _tokens: dict[str, tuple[Principal, float]] = field(default_factory=dict, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    async def verify(self, bearer: str) -> Principal:
        """The principal of a bearer credential; raises ``CredentialError`` otherwise.

        What was verified is cached, never what is checked against revocation: a token's
        signature and claims until it expires (they cannot change), a key's introspection for
        ``key_ttl`` (bounded by its expiry). Revocation, suspension and deactivation are
        checked on every call against the revocation list, which each replica refetches every
        ``revocations_ttl`` and which lists what was revoked for longer than any cache here
        keeps it; so a cache never outlives a revocation, on any replica.
        """
        if bearer.startswith(API_KEY_PREFIX):
            principal = await self._api_key(bearer)
        else:
            principal = await self._access_token(bearer)
        await self._refuse_revoked(principal)
        return principal

    async def _access_token(self, token: str) -> Principal:
        cached = self._tokens.get(token)
        if cached is not None and self.wall_clock() < cached[1]:
            return cached[0]
        key = await self._signing_key(token_kid(token))
        claims = verified_claims(token, key, issuer=self.issuer, audience=self.audience)
        principal = principal_from_claims(claims)
        if len(self._tokens) >= self.max_cached_tokens:
            self._tokens.clear()  # bounded: the tokens still in use are verified again
        self._tokens[token] = (principal, float(claims["exp"]))
        return principal

    async def _get(self, path: str) -> Any:
        return await self._request("GET", path)

    async def _request(self, method: str, path: str, **options: Any) -> Any:
        client = self.client or httpx.AsyncClient(timeout=3.0)
        try:
            response = await client.request(method, self.identity_url.rstrip("/") + path, **options)
            response.raise_for_status()
            try:
                document = response.json()
            except ValueError as error:
                raise UnusableAnswer(f"{path} answered no JSON") from error
            if not isinstance(document, dict):
                raise UnusableAnswer(f"{path} answered no JSON object")
            return document
        finally:
            if self.client is None:
                await client.aclose()

    async def _signing_key(self, kid: str) -> jwt.PyJWK:
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            now = self.clock()
            recent = self._keys_fetched_at is not None and now - self._keys_fetched_at < (
                self.min_refresh
            )
            if kid not in self._keys and not recent:
                try:
                    document = await self._get("/.well-known/jwks.json")
                except httpx.HTTPError as error:
                    raise IdentityUnavailable(f"the JWKS could not be fetched: {error}") from error
                self._keys = _usable_keys(document)
                self._keys_fetched_at = now
        if kid not in self._keys:
            raise InvalidCredential(f"unknown signing key {kid!r}")
        return self._keys[kid]

    async def _api_key(self, key: str) -> Principal:
        digest = hash_secret(key)
        cached = self._api_keys.get(digest)
        if cached is None or self.clock() - cached.fetched_at >= self.key_ttl:
            pending = self._introspecting.get(digest)
            if pending is not None:
                # Concurrent callers with one key wait for one introspection, not one each.
                await asyncio.shield(pending)
            else:
                pending = asyncio.get_running_loop().create_future()
                self._introspecting[digest] = pending
                try:
                    await self._introspect(key, digest, cached)
                finally:
                    del self._introspecting[digest]
                    pending.set_result(None)
            cached = self._api_keys.get(digest)
            if cached is None or self.clock() - cached.fetched_at >= self.max_staleness:
                raise IdentityUnavailable("identity could not be asked about the API key")
        if cached.expires_at is not None and self.wall_clock() >= cached.expires_at:
            raise InvalidCredential("the API key has expired", cached.principal or cached.former)
        if cached.principal is None:
            raise InvalidCredential("unknown, expired or revoked API key", cached.former)
        return cached.principal

    async def _introspect(self, key: str, digest: str, cached: _CachedKey | None) -> None:
        now = self.clock()
        try:
            body = await self._request("POST", "/v1/introspect", json={"token": key})
            principal = _introspected(body)
        except httpx.HTTPError as error:
            if cached is None or now - cached.fetched_at >= self.max_staleness:
                raise IdentityUnavailable(f"identity could not be asked: {error}") from error
            return  # what was introspected is trusted a while longer
        former = (cached.principal or cached.former) if cached else None
        expires = body.get("exp")
        self._api_keys[digest] = _CachedKey(
            principal, now, former, float(expires) if isinstance(expires, int | float) else None
        )

    async def _refuse_revoked(self, principal: Principal) -> None:
        revocations = await self._current_revocations()
        if principal.tenant_id in revocations.tenants:
            raise InvalidCredential("the tenant is suspended", principal)
        if principal.user_id and (principal.tenant_id, principal.user_id) in revocations.users:
            raise InvalidCredential("the user is deactivated", principal)
        if principal.kind in ("integration", "service") and (
            principal.credential_id in revocations.api_keys
        ):
            raise InvalidCredential("the API key is revoked", principal)

    async def _current_revocations(self) -> _Revocations:
        fetched = self._revocations.fetched_at
        if fetched is not None and self.clock() - fetched < self.revocations_ttl:
            return self._revocations
        async with self._lock:
            now = self.clock()
            fetched = self._revocations.fetched_at
            if fetched is None or now - fetched >= self.revocations_ttl:
                try:
                    self._revocations = _revocations(await self._get("/v1/revocations"), now)
                except httpx.HTTPError as error:
                    if fetched is None or now - fetched >= self.max_staleness:
                        raise IdentityUnavailable(
                            f"identity's revocation list is out of reach: {error}"
                        ) from error
        return self._revocations


def _usable_keys(document: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    """The JWKS's keys by ``kid``; a key this verifier cannot load is left out, not fatal."""
    keys: dict[str, jwt.PyJWK] = {}
    listed = document.get("keys")
    for key in listed if isinstance(listed, list) else ():
        try:
            keys[str(key["kid"])] = jwt.PyJWK(key)
        except (TypeError, KeyError, ValueError, jwt.PyJWTError):
            continue
    return keys


def _revocations(body: dict[str, Any], now: float) -> _Revocations:
    try:
        return _Revocations(
            tenants=frozenset(str(tenant) for tenant in body.get("tenants", ())),
            users=frozenset(
                (str(item["tenant_id"]), str(item["user_id"])) for item in body.get("users", ())
            ),
            api_keys=frozenset(str(key) for key in body.get("api_keys", ())),
            fetched_at=now,
        )
    except (TypeError, KeyError) as error:
        raise UnusableAnswer(f"the revocation list lacks {error}") from error


def _introspected(body: dict[str, Any]) -> Principal | None:
    if not body.get("active"):
        return None
    try:
        scopes = frozenset(str(scope) for scope in body.get("scopes", ()))
        if body.get("service"):
            # A service key belongs to no tenant: each request names the tenant it acts for.
            return Principal(
                kind="service",
                tenant_id="",
                user_id=None,
                scopes=scopes,
                credential_id=str(body["key_id"]),
            )
        user_id = body.get("user_id")
        return Principal(
            kind="integration",
            tenant_id=str(body["tenant_id"]),
            user_id=None if user_id is None else str(user_id),
            role=None,
            scopes=scopes,
            credential_id=str(body["key_id"]),
        )
    except (TypeError, KeyError) as error:
        raise UnusableAnswer(f"the introspection answer lacks {error}") from error


BEARER = Depends(HTTPBearer(auto_error=False))
"""The ``Authorization: Bearer`` credential, as a FastAPI dependency (declares the scheme)."""

TENANT_HEADER = "Helpline-Tenant"
"""The header in which a service credential names the tenant it acts for."""
MAX_TENANT_LENGTH = 64


def _acting_for(principal: Principal, tenant: str | None) -> Principal:
    """A service's principal for the tenant its request names."""
    if (
        not tenant
        or len(tenant) > MAX_TENANT_LENGTH
        or not tenant.isprintable()
        or (not tenant.isascii())
    ):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"a service credential must name its tenant in {TENANT_HEADER}",
        )
    return replace(principal, tenant_id=tenant)


async def verified_principal(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    verifier: Callable[[Request], CredentialVerifier],
) -> Principal:
    """The caller ``credentials`` prove, noted on ``request.state`` (a refusal as HTTP 401/403,
    an identity outage as 503)."""
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a bearer credential is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        principal = await verifier(request).verify(credentials.credentials)
    except InvalidCredential as error:
        request.state.refused = error.principal
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, str(error), headers={"WWW-Authenticate": "Bearer"}
        ) from error
    except IdentityUnavailable as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, str(error), headers={"Retry-After": "5"}
        ) from error
    request.state.refused = principal  # until every check below has passed
    if principal.kind == "service":
        principal = _acting_for(principal, request.headers.get(TENANT_HEADER))
    request.state.refused = None
    request.state.principal = principal
    return principal


ANONYMOUS = "anonymous"
"""The actor of a call that presented no usable credential."""
UNKNOWN_TENANT = "-"
"""The tenant of an audit record whose caller named none."""


def audit_record(
    principal: Principal | None,
    action: str,
    *,
    service: str,
    request: Request | None,
    target: str | None = None,
    outcome: Literal["ok", "denied", "failed"] = "ok",
    **detail: str,
) -> AuditRecorded:
    """An audit record for identity's log; publish it with the unit of work of the change.

    A denial has no change to commit with: publish it in a unit of work of its own. A call
    without a usable credential (``principal`` None) is recorded as ``anonymous`` in tenant
    ``-``, with its source address.
    """
    headers = request.headers if request is not None else {}
    request_id = getattr(request.state, "request_id", None) if request is not None else None
    return AuditRecorded(
        tenant_id=(principal.tenant_id if principal else "") or UNKNOWN_TENANT,
        service=service,
        actor=principal.actor if principal else ANONYMOUS,
        action=action,
        target=target,
        outcome=outcome,
        request_id=request_id or headers.get("x-request-id") or uuid.uuid4().hex,
        source=request.client.host if request is not None and request.client else None,
        detail=detail,
        occurred_at=datetime.now(UTC),
    )

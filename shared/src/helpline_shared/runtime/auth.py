"""Who is calling, on every route of every service: a credential identity issued, verified here.

People carry short-lived access tokens (JWTs signed by identity, verified offline against its
JWKS); integrations carry API keys (``hlk_...``, introspected at identity); services carry
service keys (API keys identity issued to a service, acting for the tenant they name in
``Helpline-Tenant``). No service but identity holds a signing key. ``require_scope`` is the one
FastAPI dependency every route uses; which cell of docs/permissions.md a route is, is stated by
the scope it requires and, for finer rules (own presence, own offers), by the route itself.
"""

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status

from helpline_shared.events import Actor
from helpline_shared.permissions import PERMISSIONS, allows
from helpline_shared.runtime.credentials import (
    TENANT_HEADER,
    CredentialVerifier,
    Principal,
    principal_dependency,
)

__all__ = ["TENANT_HEADER", "CredentialVerifier", "Principal", "event_actor", "holds",
           "require", "require_scope", "verifier_of"]


def verifier_of(request: Request) -> CredentialVerifier:
    """The verifier of the app serving ``request`` (set by ``ServiceRuntime.http_app``)."""
    verifier: CredentialVerifier = request.app.state.verifier
    return verifier


def require_scope(scope: str | None) -> Any:
    """A FastAPI dependency: the verified caller, which must hold ``scope`` (None: any caller).

    Typed ``Any`` because it is used as a parameter default (``principal: Principal = ...``).
    """
    return principal_dependency(verifier_of, scope)


def holds(principal: Principal, permission: str) -> bool:
    """Whether ``principal`` holds ``permission`` of the matrix (people by role, keys by scope)."""
    if principal.kind == "person":
        return allows(role=principal.role, scopes=frozenset(), permission=permission)
    if principal.kind in ("integration", "service"):
        return allows(role=None, scopes=principal.scopes, permission=permission)
    return False


_authenticated = principal_dependency(verifier_of)


def require(permission: str) -> Any:
    """A FastAPI dependency: the verified caller, which must hold ``permission``.

    The dependency carries its permission (``.permission``) so the matrix test and the OpenAPI
    document can tell which cell each route is.
    """
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")

    async def dependency(principal: Annotated[Principal, _authenticated]) -> Principal:
        if not holds(principal, permission):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"this credential lacks permission {permission!r}")
        return principal

    dependency.permission = permission  # type: ignore[attr-defined]
    return Depends(dependency)


def event_actor(principal: Principal) -> Actor:
    """The ``actor`` an event caused by ``principal`` carries."""
    if principal.kind == "person":
        return Actor(type="user", id=principal.user_id)
    if principal.kind in ("integration", "service"):
        return Actor(type=principal.kind, id=principal.credential_id)
    return Actor(type="system")

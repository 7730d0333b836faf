"""Who is calling, on every route of every service: a credential identity issued, verified here.

People carry short-lived access tokens (JWTs signed by identity, verified offline against its
JWKS); integrations carry API keys (``hlk_...``, introspected at identity); services carry
service keys (API keys identity issued to a service, acting for the tenant they name in
``Helpline-Tenant``). No service but identity holds a signing key. ``require(permission)`` is the
one FastAPI dependency every route uses: which cell of docs/permissions.md a route is, is the
permission it requires (stated in its OpenAPI operation as ``x-helpline-permission``) and, for
finer rules (own presence, own offers), the route itself. Routes that require no permission are
listed in ``helpline_shared.permissions.PUBLIC_OPERATIONS``; :func:`unlisted_operations` finds any
other.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from fastapi.security import HTTPBearer

from helpline_shared.events import Actor
from helpline_shared.permissions import PERMISSIONS, PUBLIC_OPERATIONS, Permission, allows
from helpline_shared.runtime.credentials import (
    TENANT_HEADER,
    CredentialVerifier,
    Principal,
    verified_principal,
)

__all__ = [
    "PERMISSION_EXTENSION",
    "TENANT_HEADER",
    "CredentialVerifier",
    "Operation",
    "Principal",
    "declare_permission",
    "event_actor",
    "holds",
    "operations",
    "require",
    "route_permission",
    "state_permissions",
    "unlisted_operations",
    "verifier_of",
]

PERMISSION_EXTENSION = "x-helpline-permission"
"""The OpenAPI extension by which an operation states the permission it requires."""


def verifier_of(request: Request) -> CredentialVerifier:
    """The verifier of the app serving ``request`` (set by ``ServiceRuntime.http_app``)."""
    verifier: CredentialVerifier = request.app.state.verifier
    return verifier


def holds(principal: Principal, permission: str) -> bool:
    """Whether ``principal`` holds ``permission`` of the matrix (people by role, keys by scope)."""
    if principal.kind == "person":
        return allows(role=principal.role, scopes=frozenset(), permission=permission)
    if principal.kind in ("integration", "service"):
        return allows(role=None, scopes=principal.scopes, permission=permission)
    if principal.kind == "operator":
        return allows(role=None, scopes=frozenset(), permission=permission, operator=True)
    return False


def declare_permission(dependency: Callable[..., Any], permission: str) -> None:
    """Mark ``dependency`` as the check of ``permission`` (what :func:`route_permission` finds).

    For a service that checks permissions with a dependency of its own (identity).
    """
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    dependency.permission = permission  # type: ignore[attr-defined]


class _Required(HTTPBearer):
    """What ``require`` depends on: the bearer scheme itself (so OpenAPI states it), which also
    verifies the caller and checks the permission."""

    def __init__(self, permission: str) -> None:
        super().__init__(auto_error=False, scheme_name=HTTPBearer.__name__)
        declare_permission(self, permission)
        self.permission = permission

    # The caller is verified here, in the scheme's own call, not in a dependency of it: each
    # level of dependencies costs FastAPI a resolution of every parameter kind, per request.
    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        principal = await verified_principal(request, await super().__call__(request), verifier_of)
        if not holds(principal, self.permission):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this credential lacks permission {self.permission!r}"
            )
        return principal


def require(permission: str) -> Any:
    """A FastAPI dependency: the verified caller, which must hold ``permission``.

    The dependency carries its permission (``.permission``) so the matrix test and the OpenAPI
    document can tell which cell each route is.
    """
    return Depends(_Required(permission))


def event_actor(principal: Principal) -> Actor:
    """The ``actor`` an event caused by ``principal`` carries."""
    if principal.kind == "person":
        return Actor(type="user", id=principal.user_id)
    if principal.kind in ("integration", "service"):
        return Actor(type=principal.kind, id=principal.credential_id)
    return Actor(type="system")


@dataclass(frozen=True, order=True)
class Operation:
    """One operation of an app: method, path template and the permission it requires."""

    method: str
    path: str
    permission: str | None

    @property
    def public(self) -> bool:
        """Whether it is one of the listed public operations."""
        return (self.method, self.path) in PUBLIC_OPERATIONS


def _declared(dependant: Dependant) -> Iterator[str]:
    for sub in dependant.dependencies:
        permission = getattr(sub.call, "permission", None)
        if isinstance(permission, str):
            yield permission
        yield from _declared(sub)


def route_permission(route: object) -> str | None:
    """The permission a route requires, if one of its dependencies declares one.

    ``route``: an ``APIRoute`` (as in ``scope["route"]``) or one of ``iter_route_contexts``.
    """
    dependant = getattr(route, "dependant", None)
    if not isinstance(dependant, Dependant):
        return None
    return next(_declared(dependant), None)


def operations(app: FastAPI) -> list[Operation]:
    """Every operation ``app`` answers (documentation pages included), sorted."""
    found: set[Operation] = set()
    for route in iter_route_contexts(app.routes):
        if route.path is not None:
            permission = route_permission(route)
            found |= {Operation(method, route.path, permission) for method in route.methods or ()}
    return sorted(found)


def unlisted_operations(app: FastAPI) -> list[Operation]:
    """Operations of ``app`` that require no permission and are not listed as public."""
    return [op for op in operations(app) if op.permission is None and not op.public]


def state_permissions(app: FastAPI, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (``app``'s OpenAPI) with each operation's permission stated."""
    for op in operations(app):
        operation = document.get("paths", {}).get(op.path, {}).get(op.method.lower())
        if operation is None:
            continue
        if op.permission is not None:
            granted = PERMISSIONS[op.permission]
            operation[PERMISSION_EXTENSION] = op.permission
            sentence = f"Requires permission `{op.permission}` ({_holders(granted)})."
        elif op.public:
            sentence = "Public: requires no credential."
        else:
            continue
        description = operation.get("description", "")
        if sentence not in description:  # FastAPI hands out the same cached document
            operation["description"] = f"{description}\n\n{sentence}" if description else sentence
    return document


def _holders(granted: Permission) -> str:
    if granted.operator:
        return "the deployment operator only"
    roles = ", ".join(sorted(granted.roles)) or "no role"
    return f"roles: {roles}; scopes: {', '.join(sorted(granted.scopes))}"

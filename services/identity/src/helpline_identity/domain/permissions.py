"""Who may do what inside identity: its cells of the one matrix, ``helpline_shared.permissions``.

Tenants, signing keys and service keys are the deployment operator's alone; everything else is
granted by the caller's role (people) or scopes (API keys), exactly as on every other service.
"""

from dataclasses import dataclass
from typing import Literal

from helpline_identity.domain.errors import Forbidden
from helpline_identity.domain.model import Role
from helpline_shared.permissions import allows

Action = Literal[
    "tenants.manage",
    "signing_keys.manage",
    "service_keys.manage",
    "users.manage",
    "users.read",
    "teams.manage",
    "teams.read",
    "api_keys.manage",
    "audit.read",
]
"""The permissions identity's use cases check (names of ``helpline_shared.permissions``)."""


@dataclass(frozen=True)
class Caller:
    """The authenticated caller as identity's rules see it."""

    kind: Literal["person", "integration", "operator"]
    tenant_id: str | None
    user_id: str | None = None
    role: Role | None = None
    scopes: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    credential_id: str | None = None


def allowed(caller: Caller, action: Action) -> bool:
    """Whether ``caller`` may perform ``action`` at all (tenant checks come separately)."""
    if caller.kind == "operator":
        return allows(role=None, scopes=frozenset(), permission=action, operator=True)
    if caller.kind == "person":
        return caller.role is not None and allows(
            role=caller.role, scopes=frozenset(), permission=action
        )
    return allows(role=None, scopes=caller.scopes, permission=action)


def require(caller: Caller, action: Action) -> None:
    """Raise ``Forbidden`` unless ``caller`` may perform ``action``."""
    if not allowed(caller, action):
        raise Forbidden(f"{action} is not allowed for this credential")


def may_see_user(caller: Caller, user_id: str, user_teams: tuple[str, ...]) -> bool:
    """Admins and keys see everyone of the tenant, leads their teams' members, agents themself."""
    if caller.kind != "person" or caller.role == "admin":
        return True
    if caller.user_id == user_id:
        return True
    return caller.role == "lead" and bool(caller.teams & set(user_teams))


def may_see_team(caller: Caller, team_id: str) -> bool:
    """Admins and keys see every team, leads their own teams."""
    if caller.kind != "person" or caller.role == "admin":
        return True
    return team_id in caller.teams

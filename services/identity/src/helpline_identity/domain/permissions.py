"""Who may do what inside identity: the table of docs/permissions.md, in code."""

from dataclasses import dataclass
from typing import Literal

from helpline_identity.domain.errors import Forbidden
from helpline_identity.domain.model import Role

Action = Literal[
    "tenants.manage", "users.manage", "users.read", "teams.manage", "teams.read",
    "api_keys.manage", "audit.read", "service_keys.manage",
]

OPERATOR_ACTIONS: frozenset[Action] = frozenset({"tenants.manage", "service_keys.manage"})
"""What the deployment operator may do: tenants and the services' keys, nothing inside a tenant."""

ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    "admin": frozenset({"users.manage", "users.read", "teams.manage", "teams.read",
                        "api_keys.manage", "audit.read"}),
    "lead": frozenset({"users.read", "teams.read"}),
    "agent": frozenset({"users.read"}),
}
"""What each role may do in its own tenant; what a lead or agent *sees* is narrowed below."""

SCOPE_ACTIONS: dict[str, frozenset[Action]] = {"admin": ROLE_ACTIONS["admin"]}
"""What an API key's scopes allow in identity (keys act for the tenant, not for a team)."""


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
        return action in OPERATOR_ACTIONS
    if caller.kind == "person":
        return caller.role is not None and action in ROLE_ACTIONS[caller.role]
    return any(action in SCOPE_ACTIONS.get(scope, frozenset()) for scope in caller.scopes)


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

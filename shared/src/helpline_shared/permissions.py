"""Who may do what: the one permission matrix of every service (docs/permissions.md shows it).

A person's role (``admin`` | ``lead`` | ``agent``) and an API key's scopes grant permissions;
the deployment operator holds only the operator permissions (tenants, signing and service keys).
Every route requires exactly one permission through :func:`helpline_shared.runtime.auth.require`
(identity: ``Authenticator.requiring``), or is one of ``PUBLIC_OPERATIONS``. Rules about *which*
object (an agent's own presence, their own offers) are checked by the route on top of the
permission, and documented next to it here. ``make docs`` writes docs/permissions.md from this.
"""

from dataclasses import dataclass
from typing import Literal

Role = Literal["admin", "lead", "agent"]
ROLES: tuple[Role, ...] = ("admin", "lead", "agent")

SCOPES: dict[str, str] = {
    "tickets:read": "Read tickets, their messages, SLA clocks, routing and deliveries",
    "tickets:write": "Create and change tickets, reply, note, manage requesters",
    "tickets:import": "Set a message's author (history sync from another helpdesk); audited",
    "reports:read": "Read report endpoints (backlog, SLA attainment, agents)",
    "admin": "Everything an admin may do in the tenant",
}
"""Scopes an API key may hold, and what each allows."""


@dataclass(frozen=True)
class Permission:
    """One action, and which roles and scopes may perform it."""

    description: str
    roles: frozenset[Role]
    scopes: frozenset[str]
    rule: str = ""
    """A narrowing the route applies on top (e.g. "agents: only their own")."""
    operator: bool = False
    """Only the deployment operator (identity's operator key) holds it; no role, no scope."""


def _permission(
    description: str, roles: str, scopes: str, rule: str = "", *, explicit: bool = False
) -> Permission:
    """``explicit``: only the named scopes grant it, not ``admin`` (it must be asked for)."""
    granted = frozenset(scopes.split()) | (frozenset() if explicit else {"admin"})
    return Permission(
        description,
        frozenset(roles.split()),  # type: ignore[arg-type]
        granted,
        rule,
    )


def _operator_only(description: str) -> Permission:
    return Permission(description, frozenset(), frozenset(), operator=True)


EVERYONE = "admin lead agent"
LEADS = "admin lead"
ADMINS = "admin"

PERMISSIONS: dict[str, Permission] = {
    "tickets.read": _permission("Read tickets, messages and attachments", EVERYONE, "tickets:read"),
    "tickets.create": _permission("Open a ticket", EVERYONE, "tickets:write"),
    "tickets.update": _permission(
        "Change status, priority, tags; merge", EVERYONE, "tickets:write"
    ),
    "tickets.reply": _permission(
        "Reply or add an internal note, as oneself", EVERYONE, "tickets:write"
    ),
    "tickets.import": _permission(
        "Set a message's author (history import); audited", "", "tickets:import", explicit=True
    ),
    "tickets.assign": _permission("Override a ticket's assignment (reassign)", LEADS, ""),
    "tickets.watch": _permission(
        "Watch a ticket or stop watching it",
        EVERYONE,
        "tickets:write",
        "agents: only themselves; leads and admins: anyone",
    ),
    "directory.read": _permission("Read organizations and requesters", EVERYONE, "tickets:read"),
    "directory.write": _permission(
        "Create and change organizations and requesters", EVERYONE, "tickets:write"
    ),
    "mail.manage": _permission("Manage mail domains, mailboxes and the quarantine", ADMINS, ""),
    "routing.read": _permission(
        "Read routing rules, settings, agents and explanations", EVERYONE, "tickets:read"
    ),
    "routing.manage": _permission(
        "Change routing rules, settings and account managers", ADMINS, ""
    ),
    "agents.manage": _permission("Create agents and change their skills and teams", ADMINS, ""),
    "agents.presence": _permission(
        "Set an agent's presence, send heartbeats",
        EVERYONE,
        "tickets:write",
        "agents: only their own; leads: their teams'",
    ),
    "offers.respond": _permission(
        "Accept or decline an offer", EVERYONE, "tickets:write", "agents: only offers made to them"
    ),
    "sla.read": _permission("Read a ticket's SLA clocks", EVERYONE, "tickets:read"),
    "sla.manage": _permission("Manage SLA policies and preventive schedules", ADMINS, ""),
    "reports.read": _permission("Read backlog, SLA and agent reports", LEADS, "reports:read"),
    "deliveries.read": _permission(
        "Read notification deliveries and their attempts", EVERYONE, "tickets:read"
    ),
    "deliveries.resend": _permission("Resend a delivery", LEADS, ""),
    "deliveries.cancel": _permission("Cancel a pending delivery", ADMINS, ""),
    "webhooks.manage": _permission(
        "Manage webhook endpoints, their secrets and replays", ADMINS, ""
    ),
    "subscriptions.manage": _permission("Manage subscriptions (exporting events)", ADMINS, ""),
    "templates.read": _permission("Read notification templates", LEADS, ""),
    "templates.manage": _permission("Change notification templates", ADMINS, ""),
    "suppressions.manage": _permission("Read and change the suppression list", LEADS, ""),
    "users.read": _permission(
        "Read users", EVERYONE, "", "agents: themselves; leads: their teams' members"
    ),
    "users.manage": _permission("Create, change and deactivate users", ADMINS, ""),
    "teams.read": _permission("Read teams", LEADS, "", "leads: their own teams"),
    "teams.manage": _permission("Create and delete teams", ADMINS, ""),
    "api_keys.manage": _permission("Create, list and revoke API keys", ADMINS, ""),
    "audit.read": _permission("Read the audit log", ADMINS, ""),
    "tenants.manage": _operator_only("Create, list, suspend, resume and delete tenants"),
    "signing_keys.manage": _operator_only("Introduce a new signing key (rotation)"),
    "service_keys.manage": _operator_only("Create, list and revoke the services' own keys"),
}

PUBLIC_OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "Liveness probe",
    ("GET", "/readyz"): "Readiness probe",
    ("GET", "/metrics"): "Prometheus metrics (scraped inside the cluster)",
    ("GET", "/openapi.json"): "The service's OpenAPI document",
    ("GET", "/docs"): "Swagger UI",
    ("HEAD", "/docs"): "Swagger UI",
    ("GET", "/docs/oauth2-redirect"): "Swagger UI",
    ("HEAD", "/docs/oauth2-redirect"): "Swagger UI",
    ("GET", "/redoc"): "ReDoc",
    ("HEAD", "/redoc"): "ReDoc",
    ("HEAD", "/openapi.json"): "The service's OpenAPI document",
    ("POST", "/v1/login"): "Identity: sign in with a password (audited)",
    ("POST", "/v1/refresh"): "Identity: exchange a refresh token",
    ("POST", "/v1/logout"): "Identity: revoke a refresh token",
    ("GET", "/.well-known/jwks.json"): "Identity: the public keys tokens are verified with",
    ("POST", "/v1/introspect"): "Identity: whether an API key is usable (for the services)",
    ("GET", "/v1/revocations"): "Identity: what was revoked recently (for the services)",
    ("GET", "/v1/oidc/{provider}/login"): "Identity: start an OpenID Connect sign-in",
    ("GET", "/v1/oidc/{provider}/callback"): "Identity: finish an OpenID Connect sign-in",
    ("GET", "/v1/oidc/providers"): "Identity: the OpenID Connect providers (for sign-in pages)",
    ("POST", "/v1/oidc/exchange"): "Identity: trade a browser's one-time OIDC sign-in code",
    ("GET", "/v1/asyncapi.json"): "Notify: the partner stream's AsyncAPI document",
}
"""The only operations that require no permission (method, path template → why)."""


def allows(
    *, role: str | None, scopes: frozenset[str], permission: str, operator: bool = False
) -> bool:
    """Whether a person with ``role``, a key with ``scopes`` or the operator holds it."""
    granted = PERMISSIONS[permission]
    if operator:
        return granted.operator
    if role is not None:
        return role in granted.roles
    return bool(scopes & granted.scopes)

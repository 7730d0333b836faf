"""Who may do what: the one permission matrix of every service (docs/permissions.md shows it).

A person's role (``admin`` | ``lead`` | ``agent``) and an API key's scopes grant permissions;
every route requires exactly one permission through :func:`helpline_shared.runtime.auth.require`.
Rules about *which* object (an agent's own presence, their own offers) are checked by the route
on top of the permission, and documented next to it here.
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


def _permission(description: str, roles: str, scopes: str, rule: str = "",
                *, explicit: bool = False) -> Permission:
    """``explicit``: only the named scopes grant it, not ``admin`` (it must be asked for)."""
    granted = frozenset(scopes.split()) | (frozenset() if explicit else {"admin"})
    return Permission(description, frozenset(roles.split()),  # type: ignore[arg-type]
                      granted, rule)


EVERYONE = "admin lead agent"
LEADS = "admin lead"
ADMINS = "admin"

PERMISSIONS: dict[str, Permission] = {
    "tickets.read": _permission("Read tickets, messages and attachments", EVERYONE,
                                "tickets:read"),
    "tickets.create": _permission("Open a ticket", EVERYONE, "tickets:write"),
    "tickets.update": _permission("Change status, priority, tags; merge", EVERYONE,
                                  "tickets:write"),
    "tickets.reply": _permission("Reply or add an internal note, as oneself", EVERYONE,
                                 "tickets:write"),
    "tickets.import": _permission("Set a message's author (history import); audited", "",
                                  "tickets:import", explicit=True),
    "tickets.assign": _permission("Override a ticket's assignment (reassign)", LEADS, ""),
    "tickets.watch": _permission("Watch a ticket or stop watching it", EVERYONE,
                                 "tickets:write",
                                 "agents: only themselves; leads and admins: anyone"),
    "directory.read": _permission("Read organizations and requesters", EVERYONE,
                                  "tickets:read"),
    "directory.write": _permission("Create and change organizations and requesters",
                                   EVERYONE, "tickets:write"),
    "mail.manage": _permission("Manage mail domains, mailboxes and the quarantine", ADMINS, ""),
    "routing.read": _permission("Read routing rules, settings, agents and explanations",
                                EVERYONE, "tickets:read"),
    "routing.manage": _permission("Change routing rules, settings and account managers",
                                  ADMINS, ""),
    "agents.manage": _permission("Create agents and change their skills and teams", ADMINS, ""),
    "agents.presence": _permission("Set an agent's presence, send heartbeats", EVERYONE,
                                   "tickets:write",
                                   "agents: only their own; leads: their teams'"),
    "offers.respond": _permission("Accept or decline an offer", EVERYONE, "tickets:write",
                                  "agents: only offers made to them"),
    "sla.read": _permission("Read a ticket's SLA clocks", EVERYONE, "tickets:read"),
    "sla.manage": _permission("Manage SLA policies and preventive schedules", ADMINS, ""),
    "reports.read": _permission("Read backlog, SLA and agent reports", LEADS, "reports:read"),
    "deliveries.read": _permission("Read notification deliveries and their attempts",
                                   EVERYONE, "tickets:read"),
    "deliveries.resend": _permission("Resend a delivery", LEADS, ""),
    "deliveries.cancel": _permission("Cancel a pending delivery", ADMINS, ""),
    "webhooks.manage": _permission("Manage webhook endpoints, their secrets and replays",
                                   ADMINS, ""),
    "subscriptions.manage": _permission("Manage subscriptions (exporting events)", ADMINS, ""),
    "templates.read": _permission("Read notification templates", LEADS, ""),
    "templates.manage": _permission("Change notification templates", ADMINS, ""),
    "suppressions.manage": _permission("Read and change the suppression list", LEADS, ""),
    "users.read": _permission("Read users and teams", EVERYONE, "",
                              "agents: themselves; leads: their teams"),
    "users.manage": _permission("Create, change and deactivate users and teams", ADMINS, ""),
    "api_keys.manage": _permission("Create, list and revoke API keys", ADMINS, ""),
    "audit.read": _permission("Read the audit log", ADMINS, ""),
}


def allows(*, role: str | None, scopes: frozenset[str], permission: str) -> bool:
    """Whether a person with ``role``, or a key with ``scopes``, holds ``permission``."""
    granted = PERMISSIONS[permission]
    if role is not None:
        return role in granted.roles
    return bool(scopes & granted.scopes)

"""Who wrote a message, and who caused an event, as the verified credential says.

A person's token writes as that agent. An integration key (a bot, a CRM, a sync) answers for
the tenant: its messages are an ``agent``'s, by the user the key is bound to when it is bound to
one. A service credential (escalation opening preventive tickets) writes as Helpline
(``system``). Only a credential holding ``tickets.import`` may name another author, and that is
audited.
"""

from fastapi import Request

from helpline_shared.events import AuditRecorded, AuthorRole
from helpline_shared.runtime.auth import Principal, holds
from helpline_shared.runtime.credentials import audit_record
from helpline_shared.runtime.problems import invalid_field

AUTHOR_FIELDS = ("author_role", "author_id")
"""Message fields only an import (permission ``tickets.import``) may set."""


def author_of(principal: Principal) -> tuple[AuthorRole, str | None]:
    """The author role and id of a message the caller writes as itself."""
    if principal.kind == "person":
        return "agent", principal.user_id
    if principal.kind == "integration":
        return "agent", principal.user_id
    return "system", None


def message_author(
    principal: Principal,
    body_sets: set[str],
    author_role: AuthorRole | None,
    author_id: str | None,
    *,
    ticket_id: str,
    request: Request,
) -> tuple[AuthorRole, str | None, AuditRecorded | None]:
    """The author of a message, and the audit record of an import when the body names one.

    ``body_sets`` are the fields the body set (even to null). Setting an author field without
    ``tickets.import`` is refused with a 422 naming the field; with it, the import is audited.
    """
    role, own_id = author_of(principal)
    named = [field for field in AUTHOR_FIELDS if field in body_sets]
    if not named:
        return role, own_id, None
    if not holds(principal, "tickets.import"):
        raise invalid_field(
            named[0],
            "the author of a message is the credential's own; only "
            "an import credential (scope tickets:import) may set it",
            "body",
        )
    if author_role is not None and author_role != role:
        role, own_id = author_role, None
    if "author_id" in body_sets:
        own_id = author_id
    audit = audit_record(
        principal,
        "ticket.message.import",
        service="intake",
        request=request,
        target=f"ticket:{ticket_id}",
        author_role=role,
        author_id=own_id or "",
    )
    return role, own_id, audit

"""The tenant's people (agents, leads, admins) as identity announces them, and who wrote a mail.

Mail that comes from a person's address acts as that person only with a reply token that
identity's secret signed for that person and that ticket: a ``From:`` header alone proves
nothing. Mail from a person's address without that proof is kept for agents, never sent on.
"""

import uuid
from dataclasses import dataclass
from typing import Literal

from helpline_shared.reply_tokens import verify_reply_token

MailAuthorKind = Literal["customer", "agent", "unverified"]


@dataclass
class Person:
    """A user of the tenant, by identity's events."""

    tenant_id: str
    user_id: str
    email: str
    name: str
    role: str
    active: bool = True


@dataclass(frozen=True)
class MailAuthor:
    """Who a mail on a ticket is from: the customer, a proven agent, or unproven staff mail."""

    kind: MailAuthorKind
    person: Person | None = None
    reason: str | None = None


def same_user(first: str | None, second: str | None) -> bool:
    """Whether two user ids name one user (identity's ids are UUIDs, with or without dashes)."""
    if first is None or second is None:
        return False
    try:
        return uuid.UUID(first) == uuid.UUID(second)
    except ValueError:
        return first == second


def mail_author(
    *,
    sender: Person | None,
    sender_address: str | None,
    token_user: str | None,
    requester_email: str,
) -> MailAuthor:
    """Who wrote a mail on a ticket, from its sender and a reply token verified for the ticket.

    ``sender`` is the person whose address the mail's ``From`` is, if any; ``token_user`` the
    user a valid reply token for this ticket names, if the mail was sent to one.
    """
    if token_user is not None:
        if sender is not None and sender.active and same_user(sender.user_id, token_user):
            return MailAuthor("agent", sender)
        return MailAuthor(
            "unverified", sender, "the reply address was made for another person than the sender"
        )
    if sender is not None and (sender_address or "").lower() != requester_email.lower():
        return MailAuthor(
            "unverified",
            sender,
            "mail from a Helpline user's address without a valid reply address for this ticket",
        )
    return MailAuthor("customer")


def verified_user(
    secret: str | None, tokens: list[str], tenant_id: str, ticket_ids: list[str]
) -> str | None:
    """The user a reply token signed for one of ``ticket_ids`` names (merges keep it valid)."""
    if not secret:
        return None
    for token in tokens:
        for ticket_id in ticket_ids:
            user_id = verify_reply_token(secret, token, tenant_id, ticket_id)
            if user_id is not None:
                return user_id
    return None

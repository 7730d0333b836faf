"""Signed reply addresses: mail to an agent about a ticket carries a ``Reply-To`` only that agent
can use for that ticket (``support+<token>@<mailbox domain>``).

The token is the agent's user id and a MAC over tenant, ticket and user, in lowercase base32 so
that mail systems that fold the case of local parts keep it intact. It fits the 64-octet limit
of a local part (RFC 5321 4.5.3.1.1) with room for the mailbox's own local part. The ticket is
not in the token: intake finds it by the reply's threading, then checks the MAC for it, so a
token lifted from one ticket's mail acts on no other ticket.
"""

import base64
import hashlib
import hmac
import uuid

MAC_BYTES = 10
TOKEN_LENGTH = 42
"""Characters of a token: base32 of a 16-byte user id and a 10-byte MAC, unpadded."""


def _mac(secret: str, tenant_id: str, ticket_id: str, user_id: str) -> bytes:
    message = "\x1f".join((tenant_id, ticket_id, uuid.UUID(user_id).hex)).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()[:MAC_BYTES]


def reply_token(secret: str, tenant_id: str, ticket_id: str, user_id: str) -> str:
    """The token that lets user ``user_id`` (a UUID) reply by mail to ``ticket_id``."""
    raw = uuid.UUID(user_id).bytes + _mac(secret, tenant_id, ticket_id, user_id)
    return base64.b32encode(raw).decode().rstrip("=").lower()


def token_user(token: str) -> str | None:
    """The user id a token names (unverified), or None when it is no token."""
    if len(token) != TOKEN_LENGTH:
        return None
    try:
        raw = base64.b32decode(token.upper() + "=" * 6)
    except ValueError:
        return None
    return uuid.UUID(bytes=raw[:16]).hex


def verify_reply_token(secret: str, token: str, tenant_id: str, ticket_id: str) -> str | None:
    """The user id of a valid token for ``ticket_id``; None for a forged or foreign one."""
    user_id = token_user(token)
    if user_id is None:
        return None
    expected = reply_token(secret, tenant_id, ticket_id, user_id)
    return user_id if hmac.compare_digest(expected, token.lower()) else None


def reply_address(mailbox_address: str, token: str) -> str:
    """``local+token@domain`` for the mailbox ``local@domain``."""
    local, _, domain = mailbox_address.rpartition("@")
    return f"{local.split('+', 1)[0]}+{token}@{domain}"


def address_token(address: str) -> str | None:
    """The subaddress of ``local+token@domain`` when it has the shape of a token."""
    local = address.rpartition("@")[0]
    _, plus, detail = local.partition("+")
    return detail.lower() if plus and len(detail) == TOKEN_LENGTH else None

"""Which ticket a mail belongs to: the ticket token first, then the Message-IDs it answers.

A subject alone never threads: two customers may well write "Invoice" on the same day.
"""

import re
from collections.abc import Iterable

from helpline_intake.domain.email.message import InboundEmail
from helpline_shared.reply_tokens import address_token
from helpline_shared.ticket_token import PLUS_ADDRESS_TOKEN, SUBJECT_TOKEN

_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
_WHITESPACE = re.compile(r"\s")
r"""Any character ``str.isspace`` calls whitespace (``\s`` of a str pattern is the same set)."""


def tokens_in(mail: InboundEmail, recipients: Iterable[str] = ()) -> list[str]:
    """Ticket-id prefixes named by the subject token or a plus-address, in that order."""
    found = [match.lower() for match in SUBJECT_TOKEN.findall(mail.subject)]
    for address in (*recipients, *mail.to, *mail.cc):
        plus = PLUS_ADDRESS_TOKEN.match(address)
        if plus:
            found.append(plus.group(1).lower())
    return list(dict.fromkeys(found))


def reply_tokens_in(mail: InboundEmail, recipients: Iterable[str] = ()) -> list[str]:
    """Agents' reply tokens (``support+<token>@…``) among the envelope and header recipients."""
    found = (address_token(address) for address in (*recipients, *mail.to, *mail.cc))
    return list(dict.fromkeys(token for token in found if token))


def normalize_message_id(value: str | None) -> str | None:
    """``<id@host>`` → ``id@host`` (comparison form); None for an empty or broken value."""
    if not value:
        return None
    match = _MESSAGE_ID.search(value)
    raw = match.group(1) if match else value.strip().strip("<>").strip()
    # One regex search, not a generator step per character: intake checks the Message-ID of
    # every delivery notify reports (two or three per ticket), twice each.
    if not raw or len(raw) > 900 or _WHITESPACE.search(raw):
        return None
    return raw


def message_ids_in(header_value: str | None) -> tuple[str, ...]:
    """Every ``<id>`` in an ``In-Reply-To`` or ``References`` value, in order."""
    if not header_value:
        return ()
    return tuple(
        dict.fromkeys(found for found in _MESSAGE_ID.findall(header_value) if len(found) <= 900)
    )


def answered_message_ids(mail: InboundEmail) -> list[str]:
    """Message-IDs the mail answers: ``In-Reply-To`` first, then ``References`` newest first."""
    return list(dict.fromkeys([*mail.in_reply_to, *reversed(mail.references)]))


def strip_token(subject: str) -> str:
    """The subject without ticket tokens (for a ticket opened by a mail that names a gone one)."""
    return SUBJECT_TOKEN.sub("", subject).strip()

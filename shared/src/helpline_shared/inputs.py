"""The input policy every edge shares: text that may reach a name, an address, a URL or a header.

Control characters (C0 and C1, DEL) and the Unicode bidirectional controls are refused wherever a
person or a protocol header will see the value; they hide text, split headers (CR/LF) and end
C strings early (NUL). Models use the ``Annotated`` types below, so the limits appear in OpenAPI.
"""

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

_CONTROL = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_LINE_BREAKS = "\t\n\r"
# Bidirectional embeddings, overrides and isolates, and the implicit marks (Unicode TR9).
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"

_FORBIDDEN_IN_LINE = re.compile(f"[{_CONTROL}{_LINE_BREAKS}{_BIDI}]")
_FORBIDDEN_IN_TEXT = re.compile(f"[{_CONTROL}{_BIDI}]")


class UnsafeCharacters(ValueError):
    """A value holds a control or bidirectional-override character."""


def _refuse(pattern: re.Pattern[str], value: str) -> str:
    match = pattern.search(value)
    if match:
        raise UnsafeCharacters(
            f"contains the control or bidirectional character U+{ord(match.group()):04X}"
        )
    return value


def refuse_unsafe_line(value: str) -> str:
    """Return ``value`` if it is one line without control or bidi characters, else raise."""
    return _refuse(_FORBIDDEN_IN_LINE, value)


def refuse_unsafe_text(value: str) -> str:
    """Like ``refuse_unsafe_line`` but line breaks and tabs are allowed (message bodies)."""
    return _refuse(_FORBIDDEN_IN_TEXT, value)


def has_unsafe_characters(value: str) -> bool:
    """True when ``value`` would be refused by ``refuse_unsafe_line``."""
    return _FORBIDDEN_IN_LINE.search(value) is not None


SafeLine = Annotated[str, AfterValidator(refuse_unsafe_line)]
"""One line of text: a name, a subject, a header value."""

SafeName = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(refuse_unsafe_line)]
"""A person's, team's or thing's display name."""

SafeEmailAddress = Annotated[
    str,
    Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$"),
    AfterValidator(refuse_unsafe_line),
]
"""An email address (RFC 5321 length limit); stricter parsing stays with each service."""

SafeUrl = Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(refuse_unsafe_line)]
"""A URL a service will call or show; scheme and host rules stay with the caller."""


def refuse_unrepresentable_instant(value: datetime) -> datetime:
    """``value`` in UTC; refused when it has no zone or UTC cannot represent it."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("needs a time zone offset (e.g. Z or +02:00)")
    try:
        return value.astimezone(UTC)
    except OverflowError as error:
        raise ValueError("out of the representable range of dates") from error


Instant = Annotated[AwareDatetime, AfterValidator(refuse_unrepresentable_instant)]
"""A point in time given with its offset, normalised to UTC (a query filter, a body field)."""


def without_unsafe_characters(value: str, replacement: str = "") -> str:
    """``value`` with each control or bidirectional character (line breaks too) replaced."""
    return _FORBIDDEN_IN_LINE.sub(replacement, value)


_ADDRESS_IN_TEXT = re.compile(r"[^\s<>@'\"]+@[^\s<>@'\"]+")


def hide_addresses(text: str) -> str:
    """``text`` with every email address replaced by ``<address>`` (for log lines)."""
    return _ADDRESS_IN_TEXT.sub("<address>", text)

"""Checks on what intake's parser makes of a mail: the documented outcome, in time, clean."""

import re
import time

from helpline_intake.adapters.email_parser import parse_email
from helpline_intake.domain.email.message import InboundEmail
from helpline_intake.domain.errors import UnparseableEmail

PARSE_SECONDS = 2.0
"""Per example, for inputs of a few kB to 256 kB: generous (the machine is shared), no benchmark."""
LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*")
CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""C0 (but tab and line breaks), DEL and C1: never text a customer typed."""


def check_parse(raw: bytes, seconds: float = PARSE_SECONDS) -> InboundEmail | None:
    """Parse ``raw``; assert the outcome is one of the two documented ones, in time."""
    started = time.monotonic()
    reason = ""
    try:
        parsed: InboundEmail | None = parse_email(raw)
    except UnparseableEmail as error:
        parsed, reason = None, str(error)
    assert parsed is not None or reason, "UnparseableEmail without a reason"
    elapsed = time.monotonic() - started
    assert elapsed < seconds, f"parsing {len(raw)} bytes took {elapsed:.1f}s"
    if parsed is not None:
        assert_no_line_breaks(parsed)
        assert_no_controls(parsed)
    return parsed


def assert_no_controls(parsed: InboundEmail) -> None:
    """No control character reaches a subject, a name, a body or a file name."""
    for name, value in (
        ("subject", parsed.subject),
        ("from_name", parsed.from_name or ""),
        ("text", parsed.text),
        *(("filename", item.filename) for item in parsed.attachments),
    ):
        found = CONTROLS.search(value)
        assert found is None, f"{name} holds U+{ord(found.group()):04X}: {value[:200]!r}"


def assert_no_line_breaks(parsed: InboundEmail) -> None:
    """Fields that come from headers and travel on into events hold no CR or LF."""
    for name in ("subject", "from_name", "from_address", "message_id", "language"):
        value = getattr(parsed, name) or ""
        assert "\r" not in value and "\n" not in value, f"{name} holds a line break: {value!r}"
    for address in (*parsed.to, *parsed.cc):  # a quoted local part may hold a space
        assert "\r" not in address and "\n" not in address, address
    for message_id in (*parsed.in_reply_to, *parsed.references):
        assert not any(character.isspace() for character in message_id), message_id
    if parsed.from_address:
        assert not any(character.isspace() for character in parsed.from_address)
    if parsed.language:
        assert LANGUAGE_TAG.fullmatch(parsed.language), parsed.language

"""Helpers of the email parser: payload bytes, HTML to text, delivery status reports."""

import html as html_module
import re
from email.message import Message

from helpline_intake.adapters.mail_text import without_controls
from helpline_intake.domain.email.message import Bounce, BouncedRecipient
from helpline_intake.domain.email.threading import normalize_message_id


def part_payload(part: Message) -> bytes:
    """The decoded bytes of a leaf part (or the serialised message of a message/* part)."""
    if part.is_multipart() or part.get_content_type().startswith("message/"):
        payload = part.get_payload()
        if isinstance(payload, list):
            return b"".join(item.as_bytes() for item in payload if isinstance(item, Message))
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - broken transfer encoding: keep the raw text
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", errors="replace") if isinstance(raw, str) else b""


_BLOCK = re.compile(r"<\s*(br|/p|/div|/tr|/li|/h[1-6])\b[^>]*>", re.IGNORECASE)
_DROP = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def text_of_html(html: str) -> str:
    """Readable text of an HTML-only mail (the sanitised HTML is kept beside it)."""
    text = _DROP.sub("", html[:2_000_000])
    text = _TAG.sub("", _BLOCK.sub("\n", text))
    # Numeric references such as &#157; unescape to C1 controls (HTML5's table keeps a few).
    text = without_controls(html_module.unescape(text))
    return re.sub(r"\n\s*\n+", "\n\n", re.sub(r"[ \t\r\f\v]+", " ", text)).strip()


def _fields(block: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in re.sub(r"\r?\n[ \t]+", " ", block).splitlines():
        name, separator, value = line.partition(":")
        if separator:
            found.setdefault(name.strip().lower(), value.strip())
    return found


def _status_groups(part: Message) -> list[dict[str, str]]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [
            {key.lower(): str(value) for key, value in item.items()}
            for item in payload
            if isinstance(item, Message)
        ]
    text = part_payload(part).decode("utf-8", errors="replace")
    return [_fields(block) for block in re.split(r"\r?\n\s*\r?\n", text) if block.strip()]


def bounce_of(message: Message) -> Bounce | None:
    """The delivery status report a ``multipart/report`` mail carries, if it is one."""
    if message.get_content_type() != "multipart/report":
        return None
    if (message.get_param("report-type") or "").__str__().lower() != "delivery-status":
        return None
    payload = message.get_payload()
    parts = (
        [part for part in payload if isinstance(part, Message)] if isinstance(payload, list) else []
    )
    recipients: list[BouncedRecipient] = []
    original: str | None = None
    for part in parts:
        content_type = part.get_content_type()
        if content_type == "message/delivery-status":
            for group in _status_groups(part):
                address = group.get("final-recipient") or group.get("original-recipient")
                if not address:
                    continue
                address = address.split(";", 1)[-1].strip().strip("<>").lower()
                if "@" not in address:
                    continue
                recipients.append(
                    BouncedRecipient(
                        address=address[:320],
                        action=group.get("action", "failed").lower(),
                        status=(group.get("status") or "").split(" ", 1)[0] or None,
                        diagnostic=(group.get("diagnostic-code") or None),
                    )
                )
        elif content_type in ("message/rfc822", "text/rfc822-headers"):
            original = original or _original_message_id(part)
    return Bounce(tuple(recipients), original)


def _original_message_id(part: Message) -> str | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return normalize_message_id(str(payload[0].get("message-id") or ""))
    text = part_payload(part).decode("utf-8", errors="replace")
    match = re.search(r"^message-id:\s*(.+)$", text, re.IGNORECASE | re.MULTILINE)
    return normalize_message_id(match.group(1)) if match else None

"""Raw RFC 5322 bytes → ``InboundEmail``, with the standard library's ``email`` (policy.default).

Every header is read defensively: real mail carries broken encodings, and one bad header must not
lose the rest of the message.
"""

import re
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

import nh3

from helpline_intake.adapters.email_parts import bounce_of, part_payload, text_of_html
from helpline_intake.domain.email.message import Attachment, InboundEmail
from helpline_intake.domain.email.threading import message_ids_in, normalize_message_id
from helpline_intake.domain.errors import UnparseableEmail

MAX_PARTS = 500
MAX_DEPTH = 30
_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+")
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*")
LOOP_HEADERS = ("auto-submitted", "precedence", "x-autoreply", "x-autorespond",
                "x-auto-response-suppress", "return-path", "content-language", "list-id",
                "reply-to")


def header(message: Message, name: str) -> str:
    """A header's decoded value, or "" when it is missing or cannot be decoded."""
    try:
        value = message.get(name)
    except Exception:  # noqa: BLE001 - a broken header counts as absent
        return ""
    if value is None:
        return ""
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a broken header counts as absent
        return ""


def _addresses(message: Message, name: str) -> tuple[str, ...]:
    raw = header(message, name)
    found = [address.strip().lower() for _, address in getaddresses([raw]) if "@" in address]
    return tuple(dict.fromkeys(found))


def _date(message: Message) -> datetime | None:
    try:
        return parsedate_to_datetime(header(message, "date"))
    except (TypeError, ValueError, IndexError):
        return None


def _language(message: Message) -> str | None:
    """The first tag of Content-Language (RFC 3282), or None when it is not a language tag.

    The value travels on in events and records: header text (CR/LF included) must not.
    """
    first = header(message, "content-language").split(",")[0].strip()
    return first[:16] if _LANGUAGE_TAG.fullmatch(first) else None


def _walk(message: Message, depth: int = 0) -> list[Message]:
    """Leaf parts in order, depth- and count-bounded (nested bombs exist in the wild)."""
    if depth > MAX_DEPTH:
        raise UnparseableEmail(f"MIME nesting deeper than {MAX_DEPTH}")
    if not message.is_multipart() or message.get_content_type() == "message/rfc822":
        return [message]
    parts: list[Message] = []
    payload = message.get_payload()
    for part in payload if isinstance(payload, list) else []:
        if isinstance(part, Message):
            parts.extend(_walk(part, depth + 1))
            if len(parts) > MAX_PARTS:
                raise UnparseableEmail(f"more than {MAX_PARTS} MIME parts")
    return parts


def parse_email(raw: bytes) -> InboundEmail:
    """Parse a mail; ``UnparseableEmail`` when nothing sensible can be made of it."""
    try:
        return _parse(raw)
    except RecursionError as error:
        # The standard library parses and serialises nested parts recursively: a mail nested
        # a thousand levels deep exhausts the stack before ``_walk`` can count its depth.
        raise UnparseableEmail("MIME structure nested too deeply to parse") from error


def _parse(raw: bytes) -> InboundEmail:
    message = message_from_bytes(raw, policy=policy.default)
    if not message.keys():
        raise UnparseableEmail("no headers")
    texts: list[str] = []
    htmls: list[str] = []
    attachments: list[Attachment] = []
    for part in _walk(message):
        _collect(part, texts, htmls, attachments)
    html = "\n".join(htmls) if htmls else None
    text = "\n\n".join(texts).strip() or (text_of_html(html) if html else "")
    from_name, from_address = parseaddr(header(message, "from"))
    return InboundEmail(
        message_id=normalize_message_id(header(message, "message-id")),
        in_reply_to=message_ids_in(header(message, "in-reply-to")),
        references=message_ids_in(header(message, "references")),
        subject=re.sub(r"\s+", " ", header(message, "subject")).strip()[:998],
        from_address=from_address.lower() if _ADDRESS.fullmatch(from_address) else None,
        from_name=from_name or None,
        to=_addresses(message, "to"),
        cc=_addresses(message, "cc"),
        date=_date(message),
        text=text,
        html=nh3.clean(html) if html else None,
        headers={name: header(message, name) for name in LOOP_HEADERS if name in message},
        attachments=tuple(attachments),
        bounce=bounce_of(message),
        language=_language(message),
        defects=tuple(type(defect).__name__ for defect in message.defects),
    )


def _collect(part: Message, texts: list[str], htmls: list[str],
             attachments: list[Attachment]) -> None:
    content_type = part.get_content_type()
    disposition = (part.get_content_disposition() or "").lower()
    filename = _filename(part)
    if content_type == "message/rfc822":
        # A forwarded message is kept whole, as an attachment the agent can open.
        attachments.append(Attachment(filename or "forwarded.eml", content_type,
                                      part_payload(part), inline=False))
        return
    if disposition != "attachment" and not filename and content_type in ("text/plain",
                                                                          "text/html"):
        body = _text(part)
        (texts if content_type == "text/plain" else htmls).append(body)
        return
    if content_type.startswith("multipart/"):
        return
    content_id = normalize_message_id(header(part, "content-id"))
    attachments.append(Attachment(
        filename or f"part-{len(attachments) + 1}", content_type, part_payload(part),
        inline=disposition == "inline" or bool(content_id), content_id=content_id))


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - an undecodable name counts as none
        return None
    if not name:
        return None
    return re.sub(r"[\x00-\x1f/\\]", "_", str(name))[:255]


def _text(part: Message) -> str:
    if isinstance(part, EmailMessage):
        try:
            content = part.get_content()
            if isinstance(content, str):
                return content
        except (LookupError, ValueError, AssertionError, KeyError):
            pass
    return part_payload(part).decode("utf-8", errors="replace")

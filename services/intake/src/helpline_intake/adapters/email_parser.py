"""Raw RFC 5322 bytes → ``InboundEmail``, with the standard library's ``email`` (policy.default).

Every header is read defensively: real mail carries broken encodings, and one bad header must not
lose the rest of the message.
"""

import re
from datetime import datetime
from email import message_from_bytes, policy
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

import nh3

from helpline_intake.adapters.email_parts import bounce_of, part_payload, text_of_html
from helpline_intake.adapters.mail_text import decode_header, decode_text, undeclared_8bit
from helpline_intake.domain.email.message import Attachment, InboundEmail
from helpline_intake.domain.email.threading import message_ids_in, normalize_message_id
from helpline_intake.domain.errors import UnparseableEmail
from helpline_shared.inputs import has_unsafe_characters, without_unsafe_characters

MAX_PARTS = 500
MAX_DEPTH = 30
_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+")
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*")
LOOP_HEADERS = (
    "auto-submitted",
    "precedence",
    "x-autoreply",
    "x-autorespond",
    "x-auto-response-suppress",
    "return-path",
    "content-language",
    "list-id",
    "reply-to",
)


def raw_header(message: Message, name: str) -> str:
    """The first ``name`` header as received (8-bit bytes as surrogate escapes), or ""."""
    try:
        for key, value in message.raw_items():
            if key.lower() == name:
                return str(value)
    except Exception:  # noqa: BLE001 - a broken header counts as absent
        pass
    return ""


def header(message: Message, name: str) -> str:
    """A header's decoded value as mail readers decode it, or "" when missing or undecodable."""
    try:
        return decode_header(raw_header(message, name))
    except Exception:  # noqa: BLE001 - a broken header counts as absent
        return ""


def _addresses(message: Message, name: str) -> tuple[str, ...]:
    raw = undeclared_8bit(raw_header(message, name))
    found = [
        address.strip().lower()
        for _, address in getaddresses([raw])
        if "@" in address and not has_unsafe_characters(address.strip())
    ]
    return tuple(dict.fromkeys(found))


def _sender(message: Message) -> tuple[str | None, str | None]:
    """The From name (decoded, control and bidi characters removed) and address, as given."""
    name, address = parseaddr(undeclared_8bit(raw_header(message, "from")))
    display = without_unsafe_characters(decode_header(name)).strip() or None
    return display, address.lower() if _ADDRESS.fullmatch(address) else None


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


# Images embedded in the mail (cid: parts, data: images) are kept; remote ones are blocked, not
# proxied: fetching them would tell the sender when and where the agent read the mail.
_URL_SCHEMES = nh3.ALLOWED_URL_SCHEMES | {"cid", "data"}
_EMBEDDED_IMAGE = ("cid:", "data:image/png", "data:image/gif", "data:image/jpeg", "data:image/webp")


def _embedded_only(element: str, attribute: str, value: str) -> str | None:
    lowered = value.strip().lower()
    if element == "img" and attribute in ("src", "srcset"):
        return value if attribute == "src" and lowered.startswith(_EMBEDDED_IMAGE) else None
    # data: and cid: are accepted for embedded images only, never as links.
    return None if lowered.startswith(("data:", "cid:")) else value


def sanitize_html(html: str) -> str:
    """HTML safe to show an agent: nh3's defaults, and no remote image (tracking pixels)."""
    return nh3.clean(html, url_schemes=_URL_SCHEMES, attribute_filter=_embedded_only)


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
    from_name, from_address = _sender(message)
    return InboundEmail(
        message_id=normalize_message_id(header(message, "message-id")),
        in_reply_to=message_ids_in(header(message, "in-reply-to")),
        references=message_ids_in(header(message, "references")),
        subject=re.sub(r"\s+", " ", header(message, "subject")).strip()[:998],
        from_address=from_address,
        from_name=from_name,
        to=_addresses(message, "to"),
        cc=_addresses(message, "cc"),
        date=_date(message),
        text=text,
        html=sanitize_html(html) if html else None,
        headers={name: header(message, name) for name in LOOP_HEADERS if name in message},
        attachments=tuple(attachments),
        bounce=bounce_of(message),
        language=_language(message),
        defects=tuple(type(defect).__name__ for defect in message.defects),
    )


def _collect(
    part: Message, texts: list[str], htmls: list[str], attachments: list[Attachment]
) -> None:
    content_type = part.get_content_type()
    disposition = (part.get_content_disposition() or "").lower()
    filename = _filename(part)
    if content_type == "message/rfc822":
        # A forwarded message is kept whole, as an attachment the agent can open.
        attachments.append(
            Attachment(filename or "forwarded.eml", content_type, part_payload(part), inline=False)
        )
        return
    if disposition != "attachment" and not filename and content_type in ("text/plain", "text/html"):
        body = _text(part)
        (texts if content_type == "text/plain" else htmls).append(body)
        return
    if content_type.startswith("multipart/"):
        return
    content_id = normalize_message_id(header(part, "content-id"))
    attachments.append(
        Attachment(
            filename or f"part-{len(attachments) + 1}",
            content_type,
            part_payload(part),
            inline=disposition == "inline" or bool(content_id),
            content_id=content_id,
        )
    )


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - an undecodable name counts as none
        return None
    if not name:
        return None
    return re.sub(r"[/\\]", "_", without_unsafe_characters(decode_header(str(name)), "_"))[:255]


def _text(part: Message) -> str:
    try:
        charset = part.get_content_charset()
    except Exception:  # noqa: BLE001 - an unreadable charset counts as undeclared
        charset = None
    return decode_text(part_payload(part), charset)

"""Hypothesis strategies for raw mail: header blocks, MIME trees, charsets, encodings, mutations.

Messages are rendered to bytes here rather than with ``email.message``, so that they can be as
broken as real mail is: missing or colliding boundaries, lying charsets, bad base64, bare LF.
"""

import base64
import quopri
from collections.abc import Callable

from hypothesis import strategies as st

CHARSETS = (
    "utf-8",
    "us-ascii",
    "iso-8859-1",
    "windows-1252",
    "koi8-r",
    "shift_jis",
    "iso-2022-jp",
    "gb2312",
    "utf-16",
    "utf-7",
    "x-unknown",
    "",
)
ENCODINGS = ("7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "bogus")
HEADER_NAMES = (
    "From",
    "To",
    "Cc",
    "Subject",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Date",
    "Reply-To",
    "Content-Language",
    "Auto-Submitted",
    "Precedence",
    "List-Id",
    "Return-Path",
    "X-Autoreply",
    "Content-Disposition",
)
LEAF_TYPES = (
    "text/plain",
    "text/html",
    "application/octet-stream",
    "image/png",
    "application/pdf",
    "message/delivery-status",
    "text/rfc822-headers",
    "message/rfc822",
    "application/zip",
)
MULTIPART_TYPES = ("mixed", "alternative", "related", "report", "digest", "signed")

_header_text = st.text(st.characters(codec="utf-8"), max_size=60)
_line_ends = st.sampled_from([b"\r\n", b"\n", b"\r"])


@st.composite
def encoded_words(draw: st.DrawFn) -> str:
    """An RFC 2047 encoded word, valid or not, whose text may hide CR/LF."""
    text = draw(_header_text | st.just("x\r\nBcc: victim@evil.example"))
    charset = draw(st.sampled_from(("utf-8", "iso-8859-1", "x-unknown", "")))
    data = text.encode("utf-8", errors="replace")
    if draw(st.booleans()):
        payload = base64.b64encode(data).decode()
        if draw(st.booleans()):
            payload = payload[: draw(st.integers(0, len(payload)))]  # truncated base64
        return f"=?{charset}?b?{payload}?="
    return f"=?{charset}?q?{quopri.encodestring(data, header=True).decode()}?="


def header_values() -> st.SearchStrategy[str]:
    """Header values: plain text, addresses, Message-IDs, encoded words, folded or not."""
    address = st.builds(
        "{} <{}@{}.example>".format,
        _header_text,
        st.from_regex(r"[a-z0-9.+]{1,12}", fullmatch=True),
        st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True),
    )
    message_id = st.builds(
        "<{}@{}>".format,
        st.from_regex(r"[^<>\s]{1,30}", fullmatch=True),
        st.from_regex(r"[a-z.]{1,20}", fullmatch=True),
    )
    words = st.lists(_header_text | encoded_words() | address | message_id, max_size=4)
    return words.map(" ".join)


@st.composite
def header_blocks(draw: st.DrawFn, content_type: str | None = None) -> bytes:
    """A header block (without the blank line), with CR/LF and junk in names and values."""
    names = st.sampled_from(HEADER_NAMES) | st.text(
        st.characters(min_codepoint=1, max_codepoint=255), min_size=0, max_size=20
    )
    headers = draw(st.lists(st.tuples(names, header_values()), max_size=12))
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    end = draw(_line_ends) if draw(st.integers(0, 9)) == 0 else b"\r\n"
    lines = []
    for name, value in headers:
        encoding = draw(st.sampled_from(("utf-8", "latin-1")))
        line = f"{name}: {value}".encode(encoding, errors="replace")
        lines.append(line)
    return end.join(lines)


def _encode(body: bytes, encoding: str, draw: st.DrawFn) -> bytes:
    if encoding == "base64":
        encoded = base64.encodebytes(body)
        return encoded if draw(st.booleans()) else encoded.replace(b"=", b"") + b"!*"
    if encoding == "quoted-printable":
        return quopri.encodestring(body)
    return body


@st.composite
def leaf_parts(draw: st.DrawFn) -> bytes:
    """One non-multipart part: headers, a blank line and a body in some transfer encoding."""
    content_type = draw(st.sampled_from(LEAF_TYPES))
    charset = draw(st.sampled_from(CHARSETS))
    encoding = draw(st.sampled_from(ENCODINGS))
    text = draw(st.text(max_size=200))
    body = (
        text.encode(charset or "utf-8", errors="replace")
        if charset not in ("x-unknown", "", "utf-7")
        else draw(st.binary(max_size=200))
    )
    disposition = draw(st.sampled_from(("", "inline", "attachment", "attachment; filename=")))
    filename = draw(st.text(max_size=30)) if disposition.endswith("=") else ""
    head = [
        f"Content-Type: {content_type}; charset={charset}",
        f"Content-Transfer-Encoding: {encoding}",
    ]
    if disposition:
        head.append(
            f'Content-Disposition: {disposition}"{filename}"'
            if filename
            else f"Content-Disposition: {disposition}"
        )
    return (
        ("\r\n".join(head)).encode("utf-8", errors="replace")
        + b"\r\n\r\n"
        + _encode(body, encoding, draw)
    )


def _multipart(children: st.SearchStrategy[list[bytes]]) -> st.SearchStrategy[bytes]:
    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        subtype = draw(st.sampled_from(MULTIPART_TYPES))
        boundary = draw(
            st.sampled_from(["b1", "=_x", "", "a" * 70])
            | st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=20)
        )
        extra = "; report-type=delivery-status" if subtype == "report" else ""
        parts = draw(children)
        separator = f"--{boundary}".encode(errors="replace")
        body = b"".join(separator + b"\r\n" + part + b"\r\n" for part in parts)
        if draw(st.booleans()):  # the closing delimiter is often missing in the wild
            body += separator + b"--\r\n"
        header = f'Content-Type: multipart/{subtype}; boundary="{boundary}"{extra}'
        return header.encode(errors="replace") + b"\r\n\r\npreamble\r\n" + body + b"epilogue"

    return build()


def mime_bodies() -> st.SearchStrategy[bytes]:
    """A MIME tree: leaves, multiparts of them, multiparts of multiparts."""
    return st.recursive(
        leaf_parts(),
        lambda children: _multipart(st.lists(children, min_size=0, max_size=4)),
        max_leaves=12,
    )


@st.composite
def mails(draw: st.DrawFn) -> bytes:
    """A whole mail: top-level headers, then a MIME tree (its own headers merged in)."""
    top = draw(header_blocks())
    body = draw(mime_bodies())
    return top + b"\r\n" + body


_Mutation = Callable[[bytes, st.DrawFn], bytes]


def _flip(raw: bytes, draw: st.DrawFn) -> bytes:
    at = draw(st.integers(0, max(len(raw) - 1, 0)))
    return raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]


def _insert(raw: bytes, draw: st.DrawFn) -> bytes:
    at = draw(st.integers(0, len(raw)))
    junk = draw(
        st.binary(max_size=40)
        | st.sampled_from(
            [
                b"\r\n\r\n",
                b"\r\n--",
                b"=?utf-8?b?",
                b"\r\nContent-Type: multipart/mixed; boundary=",
                b"\r\nBcc: victim@evil.example\r\n",
                b"\x00",
                b"\r\n ",
                b"\xff\xfe",
            ]
        )
    )
    return raw[:at] + junk + raw[at:]


def _delete(raw: bytes, draw: st.DrawFn) -> bytes:
    start = draw(st.integers(0, len(raw)))
    return raw[:start] + raw[start + draw(st.integers(0, 400)) :]


def _duplicate(raw: bytes, draw: st.DrawFn) -> bytes:
    start = draw(st.integers(0, len(raw)))
    chunk = raw[start : start + draw(st.integers(0, 400))]
    return raw[:start] + chunk * draw(st.integers(2, 6)) + raw[start:]


def _line_endings(raw: bytes, draw: st.DrawFn) -> bytes:
    return raw.replace(b"\r\n", draw(_line_ends))


def _truncate(raw: bytes, draw: st.DrawFn) -> bytes:
    return raw[: draw(st.integers(0, len(raw)))]


MUTATIONS: tuple[_Mutation, ...] = (_flip, _insert, _delete, _duplicate, _line_endings, _truncate)


@st.composite
def mutated(draw: st.DrawFn, originals: list[bytes]) -> bytes:
    """One of ``originals`` after one to eight random mutations."""
    raw = draw(st.sampled_from(originals))
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=8)):
        raw = mutation(raw, draw)
    return raw

"""Mail text decoded as mail readers decode it (the WHATWG Encoding Standard), without controls.

Clients that write Windows-1252 often label it ISO-8859-1 or US-ASCII; the WHATWG Encoding
Standard (what browsers and mail readers follow) therefore decodes those labels, and a few other
legacy ones, as their Windows superset. Undeclared 8-bit text is tried as UTF-8, then as
Windows-1252. Whatever control characters remain (C0 but tab and line breaks, DEL, C1) are removed:
they are never text a customer typed.
"""

import base64
import binascii
import codecs
import re

# Python codec → the WHATWG labels whose meaning differs from Python's reading of the same label
# (https://encoding.spec.whatwg.org/#names-and-labels). Other labels are Python's as they are.
_WHATWG_LABELS: dict[str, tuple[str, ...]] = {
    "cp1252": (
        "ansi_x3.4-1968",
        "ascii",
        "cp1252",
        "cp819",
        "csisolatin1",
        "ibm819",
        "iso-8859-1",
        "iso-ir-100",
        "iso8859-1",
        "iso88591",
        "iso_8859-1",
        "iso_8859-1:1987",
        "l1",
        "latin1",
        "us-ascii",
        "windows-1252",
        "x-cp1252",
        "us",
        "iso646-us",
        "cp367",
        "csascii",
        "ibm367",
        "iso-ir-6",
        "iso_646.irv:1991",
    ),
    "cp1254": (
        "cp1254",
        "csisolatin5",
        "iso-8859-9",
        "iso-ir-148",
        "iso8859-9",
        "iso88599",
        "iso_8859-9",
        "iso_8859-9:1989",
        "l5",
        "latin5",
        "windows-1254",
        "x-cp1254",
    ),
    "cp874": ("dos-874", "iso-8859-11", "iso8859-11", "iso885911", "tis-620", "windows-874"),
    "gb18030": (
        "chinese",
        "csgb2312",
        "csiso58gb231280",
        "gb2312",
        "gb_2312",
        "gb_2312-80",
        "gbk",
        "iso-ir-58",
        "x-gbk",
        "gb18030",
    ),
    "big5hkscs": ("big5", "big5-hkscs", "cn-big5", "csbig5", "x-x-big5"),
    "cp949": (
        "cseuckr",
        "csksc56011987",
        "euc-kr",
        "iso-ir-149",
        "korean",
        "ks_c_5601-1987",
        "ks_c_5601-1989",
        "ksc5601",
        "ksc_5601",
        "windows-949",
    ),
    "cp932": (
        "csshiftjis",
        "ms932",
        "ms_kanji",
        "shift-jis",
        "shift_jis",
        "sjis",
        "windows-31j",
        "x-sjis",
    ),
    "utf-8": (
        "unicode-1-1-utf-8",
        "unicode11utf8",
        "unicode20utf8",
        "utf-8",
        "utf8",
        "x-unicode20utf8",
    ),
    "iso8859_8": ("csiso88598i", "iso-8859-8-i", "logical", "csiso88598e", "iso-8859-8-e"),
    "koi8_r": ("cskoi8r", "koi", "koi8", "koi8-r", "koi8_r"),
    "koi8_u": ("koi8-ru", "koi8-u"),
    "mac_roman": ("csmacintosh", "mac", "macintosh", "x-mac-roman"),
    "mac_cyrillic": ("x-mac-cyrillic", "x-mac-ukrainian"),
    "cp866": ("866", "cp866", "csibm866", "ibm866"),
    **{
        f"cp125{digit}": (f"windows-125{digit}", f"x-cp125{digit}", f"cp125{digit}")
        for digit in "0135678"
    },
}
_CODEC_OF_LABEL = {label: codec for codec, labels in _WHATWG_LABELS.items() for label in labels}
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROLS_AND_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f]+")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"(=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)\s+(?==\?)")


def codec_for(label: str | None) -> str | None:
    """The Python codec that decodes ``label`` as the WHATWG standard does; None if unknown."""
    if not label:
        return None
    # RFC 2231 lets a charset carry a language: ``iso-8859-1*en``.
    name = label.strip().strip("\"'").split("*", 1)[0].lower()
    if name in _CODEC_OF_LABEL:
        return _CODEC_OF_LABEL[name]
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def without_controls(text: str, *, keep_line_breaks: bool = True) -> str:
    """``text`` without C0 (but tab and line breaks), DEL and C1 controls; one line unless kept."""
    if keep_line_breaks:
        return _CONTROLS.sub("", text)
    return _CONTROLS_AND_BREAKS.sub(" ", text)


def _undeclared(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def decode_text(data: bytes, label: str | None) -> str:
    """Bytes of a body part in charset ``label`` as text (controls removed)."""
    codec = codec_for(label)
    if codec is None:
        text = _undeclared(data)
    else:
        try:
            text = data.decode(codec, errors="replace")
        except LookupError:
            text = _undeclared(data)
    return without_controls(text)


def _decode_word(match: re.Match[str]) -> str:
    charset, encoding, payload = match.groups()
    try:
        if encoding in "bB":
            data = base64.b64decode(payload + "=" * (-len(payload) % 4))
        else:
            data = re.sub(
                rb"=([0-9A-Fa-f]{2})",
                lambda hexa: bytes([int(hexa.group(1), 16)]),
                payload.replace("_", " ").encode("ascii", "surrogateescape"),
            )
    except (binascii.Error, ValueError, UnicodeError):
        return match.group(0)
    return decode_text(data, charset)


def decode_header(raw: str) -> str:
    """A raw header value (8-bit bytes kept as surrogate escapes) as one line of text.

    Raw 8-bit bytes are read as UTF-8, else Windows-1252; RFC 2047 encoded words in their own
    charset (WHATWG labels); whitespace between adjacent encoded words dropped (RFC 2047 §6.2).
    """
    text = undeclared_8bit(raw)
    text = re.sub(r"\r?\n(?=[ \t])", "", text)
    text = _ENCODED_WORD.sub(_decode_word, _BETWEEN_WORDS.sub(r"\1", text))
    return without_controls(text, keep_line_breaks=False)


def undeclared_8bit(raw: str) -> str:
    """A raw header value with 8-bit bytes read as UTF-8, else Windows-1252 (encoded words kept)."""
    if raw.isascii():
        return raw
    try:
        raw.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return raw  # already text (a message built from str, or SMTPUTF8 read as such)
    # Word by word: one header may mix a UTF-8 word with a Windows-1252 one.
    return re.sub(
        r"\S+", lambda word: _undeclared(word.group().encode("ascii", "surrogateescape")), raw
    )

"""Mail text decoded as mail readers decode it: WHATWG labels, 8-bit headers, no C1 controls."""

import re

import pytest

from helpline_intake.adapters.email_parser import parse_email
from helpline_intake.adapters.mail_text import codec_for, decode_header

C1 = re.compile("[\x80-\x9f]")


def test_iso_8859_1_declared_windows_1252_text_keeps_quotes_and_euro() -> None:
    raw = (
        b"From: =?iso-8859-1?q?=93Ren=E9=94?= <rene@b.example>\r\n"
        b"Subject: =?ISO-8859-1?Q?=93Quote=94_costs_100=80?=\r\n"
        b"Content-Type: text/plain; charset=ISO-8859-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        b"He said \x93yes\x94 for 5\x80.\r\n"
    )
    parsed = parse_email(raw)
    assert parsed.text.strip() == "He said \u201cyes\u201d for 5\u20ac."
    assert parsed.subject == "\u201cQuote\u201d costs 100\u20ac"
    assert parsed.from_name == "\u201cRen\u00e9\u201d"


@pytest.mark.parametrize(
    "label",
    ["us-ascii", "ascii", "latin1", "iso-8859-1", "l1", "ISO_8859-1:1987", "cp819", "windows-1252"],
)
def test_latin1_and_ascii_labels_mean_windows_1252(label: str) -> None:
    raw = (
        f"From: a@b.example\r\nSubject: x\r\nContent-Type: text/plain; charset={label}\r\n\r\n"
    ).encode() + b"\x93ok\x94 \x80\r\n"
    assert parse_email(raw).text.strip() == "\u201cok\u201d \u20ac"


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("iso-8859-9", "cp1254"),
        ("latin5", "cp1254"),
        ("tis-620", "cp874"),
        ("gb2312", "gb18030"),
        ("gbk", "gb18030"),
        ("big5", "big5hkscs"),
        ("ks_c_5601-1987", "cp949"),
        ("euc-kr", "cp949"),
        ("shift_jis", "cp932"),
        ("x-sjis", "cp932"),
        ("koi8", "koi8_r"),
        ("x-mac-roman", "mac_roman"),
        ("unicode-1-1-utf-8", "utf-8"),
        ("iso-8859-1*en", "cp1252"),
        ("iso-8859-2", "iso8859-2"),
        ("no-such-charset", None),
    ],
)
def test_charset_labels_follow_the_whatwg_table(label: str, codec: str | None) -> None:
    assert codec_for(label) == codec


def test_raw_8bit_headers_without_a_charset_try_utf8_then_windows_1252() -> None:
    raw = (
        b"From: Zo\xc3\xab Caf\xe9 <zoe@b.example>\r\n"
        b"Subject: Caf\xc3\xa9 cr\xe8me \x93br\xfbl\xe9e\x94\r\n"
        b"Content-Type: text/plain\r\n\r\nUndeclared caf\xc3\xa9\r\n"
    )
    parsed = parse_email(raw)
    assert parsed.subject == "Caf\u00e9 cr\u00e8me \u201cbr\u00fbl\u00e9e\u201d"
    assert parsed.from_name == "Zo\u00eb Caf\u00e9"
    assert parsed.from_address == "zoe@b.example"
    assert parsed.text.strip() == "Undeclared caf\u00e9"
    undeclared_latin = b"From: a@b.example\r\nSubject: x\r\n\r\nna\xefve \x80\r\n"
    assert parse_email(undeclared_latin).text.strip() == "na\u00efve \u20ac"


def test_no_c1_control_survives_in_subject_name_body_or_filename() -> None:
    raw = (
        b"From: =?iso-8859-2?q?A=81=9Fb?= <a@b.example>\r\n"
        b"Subject: =?iso-8859-2?q?Z=80=9F?= \x1b[31m\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain; charset=iso-8859-2\r\n\r\nx\x85y\x9bz\x00\r\n"
        b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>q&#157;r&#x81;s</p>\r\n"
        b"--b\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*=iso-8859-1''evil%85%E2%80%AEtxt.exe\r\n"
        b"\r\nMZ\r\n--b--\r\n"
    )
    parsed = parse_email(raw)
    for value in (
        parsed.subject,
        parsed.from_name or "",
        parsed.text,
        *(item.filename for item in parsed.attachments),
    ):
        assert not C1.search(value) and "\x00" not in value and "\x1b" not in value, value
    assert parsed.text.startswith("xyz")
    assert "\u202e" not in parsed.attachments[0].filename


def test_adjacent_encoded_words_join_and_folding_is_undone() -> None:
    assert decode_header("=?utf-8?q?Bon?=\r\n =?utf-8?q?jour?= world") == "Bonjour world"
    assert decode_header("=?utf-8?b?w6k?=") == "\u00e9"

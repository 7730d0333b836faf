"""What the parser makes of real-world shapes of mail."""

from email.message import EmailMessage

from helpline_intake.adapters.email_parser import parse_email
from helpline_intake.domain.email.loops import is_auto_reply
from helpline_intake.domain.email.threading import tokens_in


def test_html_only_mail_gets_derived_text_and_sanitised_html() -> None:
    raw = (
        b"From: a@b.example\r\nSubject: hi\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>Hello <b>there</b></p><script>alert(1)</script><p>Line two</p>"
    )
    parsed = parse_email(raw)
    assert "Hello there" in parsed.text and "Line two" in parsed.text
    assert "alert" not in parsed.text
    assert parsed.html is not None
    assert "<script" not in parsed.html and "<b>there</b>" in parsed.html


def test_rfc2047_subjects_and_legacy_charsets_are_decoded() -> None:
    raw = (
        b"From: =?iso-8859-1?q?Ren=E9?= <rene@b.example>\r\n"
        b"Subject: =?utf-8?b?w4ljaGVjIGQnaW1wcmVzc2lvbg==?=\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 froid\r\n"
    )
    parsed = parse_email(raw)
    assert parsed.subject == "Échec d'impression"
    assert parsed.from_name == "René" and parsed.text.strip() == "Café froid"


def test_alternative_prefers_both_parts_and_attachments_keep_their_bytes() -> None:
    message = EmailMessage()
    message["From"] = "a@b.example"
    message["Subject"] = "logs"
    message.set_content("plain body")
    message.add_alternative("<p>html body</p>", subtype="html")
    message.add_attachment(
        b"\x00\x01log", maintype="application", subtype="octet-stream", filename="app.log"
    )
    forwarded = EmailMessage()
    forwarded["Subject"] = "original"
    forwarded.set_content("forwarded text")
    message.add_attachment(forwarded)
    parsed = parse_email(message.as_bytes())
    assert parsed.text.strip() == "plain body"
    names = {item.filename: item for item in parsed.attachments}
    assert names["app.log"].data == b"\x00\x01log"
    assert names["forwarded.eml"].content_type == "message/rfc822"
    assert b"forwarded text" in names["forwarded.eml"].data


def test_tokens_come_from_subject_and_plus_address() -> None:
    message = EmailMessage()
    message["From"] = "a@b.example"
    message["To"] = "support+0a1b2c3d@acme.test"
    message["Subject"] = "Re: [#deadbeef] stuck"
    message.set_content("x")
    assert tokens_in(parse_email(message.as_bytes())) == ["deadbeef", "0a1b2c3d"]


def test_auto_replies_are_recognised_by_their_headers() -> None:
    def parsed(**headers: str) -> bool:
        message = EmailMessage()
        message["From"] = headers.pop("sender", "a@b.example")
        for name, value in headers.items():
            message[name.replace("_", "-")] = value
        message.set_content("x")
        return is_auto_reply(parse_email(message.as_bytes()))

    assert parsed(Auto_Submitted="auto-replied")
    assert parsed(Precedence="junk")
    assert parsed(X_Autoreply="yes")
    assert parsed(X_Auto_Response_Suppress="All")
    assert parsed(sender="MAILER-DAEMON@mx.example")
    assert not parsed(Auto_Submitted="no")
    assert not parsed()


def test_remote_images_are_blocked_and_embedded_ones_kept() -> None:
    raw = (
        b"From: a@b.example\r\nSubject: hi\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b'<p>Hi<img src="https://tracker.example/open.gif?u=1" alt="logo">'
        b'<img src="//cdn.example/x.png" srcset="https://cdn.example/x2.png 2x">'
        b'<img src="cid:part1@b.example"><img src="data:image/png;base64,iVBORw0KGgo=">'
        b'<img src="data:image/svg+xml;base64,PHN2Zz4=">'
        b'<a href="data:text/html,x">data link</a><a href="https://ok.example/">ok</a></p>'
    )
    html = parse_email(raw).html
    assert html is not None
    assert "tracker.example" not in html and "cdn.example" not in html
    assert 'alt="logo"' in html and 'src="cid:part1@b.example"' in html
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in html
    assert "svg" not in html and "data:text" not in html
    assert 'href="https://ok.example/"' in html

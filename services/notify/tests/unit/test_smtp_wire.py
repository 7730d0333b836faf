"""Mail is written to the wire directly (no ``EmailMessage``, whose policy parses every header),
and reads back as what ``build_message`` would have sent; attachments still take that path."""

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from test_smtp_mailer import Inbox, free_port

from helpline_notify.adapters import smtp
from helpline_notify.adapters.smtp import SmtpMailer, build_message, wire_message
from helpline_notify.service_layer.ports import MailAttachment, OutboundEmail

MAIL_FROM = "Helpline <notifications@helpline.test>"
PLAIN = OutboundEmail(
    message_id="<n-1@acme.example>",
    to="ann@example.com",
    subject="[#1a2b3c4d] Assigned to you: Printer on fire",
    text="Hello Ann,\n\nticket [#1a2b3c4d] is yours.\n",
    headers={"Auto-Submitted": "auto-generated"},
)
FRENCH = OutboundEmail(
    message_id="<n-2@acme.example>",
    to="zoe@example.com",
    subject="[#1a2b3c4d] Réponse  à   votre ticket " + "long " * 30 + "éé  éé",
    text="Bonjour Zoë,\n" + "x" * 200 + "\n.dot\ntrailing  \n",
    html="<p>Bonjour Zoë</p>" * 20,
    headers={
        "From": '"Zoë Ågent via Acme \\"Ltd\\"" <support@acme.example>',
        "Auto-Submitted": "no",
        "In-Reply-To": "<a@acme.example>",
        "References": " ".join(f"<{n}-aaaaaaaaaaaaaaaaaaa@acme.example>" for n in range(20)),
        "Reply-To": "support+token@acme.example",
    },
)
JAPANESE = OutboundEmail(
    message_id="<n-3@acme.example>",
    to="bob@example.com",
    subject="日本語の件名がとても長い場合にはどうなるでしょうか" * 2,
    text="日本語\n",
    headers={"Auto-Submitted": "auto-replied"},
)
HEADERS = (
    "From",
    "To",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Reply-To",
    "Auto-Submitted",
    "X-Auto-Response-Suppress",
    "MIME-Version",
)


def parsed(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def content(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body((subtype,))
    return None if part is None else str(part.get_content())


@pytest.mark.parametrize("email", [PLAIN, FRENCH, JAPANESE], ids=["ascii", "french", "japanese"])
def test_the_wire_reads_back_as_the_email_package_would_have_written_it(
    email: OutboundEmail,
) -> None:
    sender, recipients, data = wire_message(email, MAIL_FROM)

    new = parsed(data)
    old = parsed(build_message(email, MAIL_FROM).as_bytes(policy=policy.SMTP))
    assert {name: str(new[name]) for name in HEADERS} == {name: str(old[name]) for name in HEADERS}
    # Exactly the subject; the email package turns "éé  éé" into " éééé" in the French one.
    assert str(new["Subject"]) == email.subject
    assert (content(new, "plain"), content(new, "html")) == (
        content(old, "plain"),
        content(old, "html"),
    )
    assert not [part.defects for part in new.walk() if part.defects]
    assert data.isascii(), "7-bit clean: no 8BITMIME or SMTPUTF8 needed"
    assert max(len(line) for line in data.split(b"\r\n")) <= smtp.MAX_LINE
    assert recipients == [email.to]
    assert sender == ("support@acme.example" if email is FRENCH else "notifications@helpline.test")


def test_ascii_subject_words_stay_readable_and_an_encoded_look_alike_stays_text() -> None:
    email = OutboundEmail(
        message_id="<n-4@acme.example>",
        to="ann@example.com",
        subject="[#1a2b3c4d] Café =?utf-8?q?x?= ok",
        text="t",
    )
    _sender, _recipients, data = wire_message(email, MAIL_FROM)

    assert b"Subject: [#1a2b3c4d] =?utf-8?b?" in data, "the ticket token stays searchable"
    assert str(parsed(data)["Subject"]) == "[#1a2b3c4d] Café =?utf-8?q?x?= ok"


async def test_plain_mail_is_sent_without_an_email_message_and_attachments_still_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[OutboundEmail] = []

    def counted(email: OutboundEmail, mail_from: str) -> EmailMessage:
        built.append(email)
        return build_message(email, mail_from)

    monkeypatch.setattr(smtp, "build_message", counted)
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    mailer = SmtpMailer("127.0.0.1", port, MAIL_FROM, timeout=5.0)
    with_file = OutboundEmail(
        message_id="<n-5@acme.example>",
        to="ann@example.com",
        subject="files",
        text="see attached",
        attachments=(MailAttachment("a.txt", "text/plain", b"row\n"),),
    )
    try:
        await mailer.send(FRENCH)
        assert built == [], "no EmailMessage is built for mail without attachments"
        await mailer.send(with_file)
        assert built == [with_file]
    finally:
        await mailer.aclose()
        controller.stop()

    french, files = (parsed(raw) for raw in inbox.messages)
    assert french["From"].addresses[0].display_name == 'Zoë Ågent via Acme "Ltd"'
    assert (
        str(content(french, "plain")).replace("\r\n", "\n")
        == "Bonjour Zoë,\n" + "x" * 200 + "\n.dot\ntrailing  \n"
    )
    assert [part.get_filename() for part in files.iter_attachments()] == ["a.txt"]


@pytest.mark.parametrize(
    "email",
    [
        OutboundEmail(message_id="<n-6@x>", to="ann@example.com", subject="a\nBcc: x@y", text="t"),
        OutboundEmail(message_id="<n-7@x>", to="zoë@example.com", subject="s", text="t"),
    ],
    ids=["line break in a header", "non-ascii address"],
)
def test_what_the_wire_writer_cannot_write_plainly_is_left_to_the_email_package(
    email: OutboundEmail,
) -> None:
    with pytest.raises(smtp.NotPlain):
        wire_message(email, MAIL_FROM)

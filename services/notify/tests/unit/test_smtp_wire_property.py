"""Whatever the subject, sender name and text, the hand-written wire reads back as the ``email``
package's own message would, or is left to that package: never a mangled or injected header."""

from email import message_from_bytes, policy
from email.message import EmailMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from helpline_notify.adapters.smtp import NotPlain, build_message, wire_message
from helpline_notify.service_layer.ports import OutboundEmail

MAIL_FROM = "Helpline <notifications@helpline.test>"
ANY = st.characters(exclude_categories=("Cs",))
"""Any character but surrogates: controls, CR and LF included (they must never pass)."""
PRINTABLE = st.characters(exclude_categories=("Cs", "Cc", "Cf", "Co", "Cn", "Zl", "Zp"))
"""What people write: letters, marks, digits, symbols and spaces of every script."""
LINE = st.one_of(st.text(PRINTABLE, max_size=300), st.text(ANY, max_size=300))
NAME = st.one_of(st.text(PRINTABLE, min_size=1, max_size=80), st.text(ANY, min_size=1, max_size=80))


def parsed(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def lines(content: object) -> list[str]:
    return str(content).replace("\r\n", "\n").split("\n")


def words(value: object) -> list[str]:
    return str(value).split()


@settings(max_examples=300, deadline=None)
@given(subject=LINE, name=NAME, text=st.text(ANY, max_size=300), html=st.none() | LINE)
def test_any_subject_name_and_text_read_back_as_the_email_package_writes_them(
    subject: str, name: str, text: str, html: str | None
) -> None:
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    email = OutboundEmail(
        message_id="<n-1@acme.example>",
        to="ann@example.com",
        subject=subject,
        text=text,
        html=html,
        headers={"From": f'"{quoted}" <support@acme.example>'},
    )
    try:
        sender, recipients, data = wire_message(email, MAIL_FROM)
    except NotPlain:
        return
    new = parsed(data)
    old = parsed(build_message(email, MAIL_FROM).as_bytes(policy=policy.SMTP))
    assert data.isascii()
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    names = [key.lower() for key in new]
    assert len(names) == len(set(names)), "no header was injected or doubled"
    assert words(new["Subject"]) == words(subject)
    for header in ("From", "To"):
        assert [(words(a.display_name), a.addr_spec) for a in new[header].addresses] == [
            (words(a.display_name), a.addr_spec) for a in old[header].addresses
        ]
    assert (sender, recipients) == ("support@acme.example", ["ann@example.com"])
    for subtype in ("plain", "html"):
        new_part, old_part = new.get_body((subtype,)), old.get_body((subtype,))
        assert (new_part is None) == (old_part is None)
        if new_part is not None and old_part is not None:
            # The parser leaves some CRLFs of a decoded part as they are: compare lines.
            assert lines(new_part.get_content()) == lines(old_part.get_content())

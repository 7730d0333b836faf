"""What an agent newly wrote in a reply: quotes and signatures cut, never a word of theirs."""

from pathlib import Path

import pytest

from helpline_intake.adapters.email_parser import parse_email
from helpline_intake.adapters.reply_text import new_text
from helpline_intake.domain.email.notes import split_note
from helpline_intake.domain.errors import UnparseableEmail

CORPUS = Path(__file__).resolve().parents[4].parent / "shared" / "data" / "email"
MAILS = sorted(CORPUS.rglob("*.eml")) if CORPUS.is_dir() else []


def corpus_text(name: str) -> str:
    return parse_email((CORPUS / name).read_bytes()).text


@pytest.mark.skipif(not MAILS, reason="the shared mail corpus is not beside the repository")
@pytest.mark.parametrize("path", MAILS, ids=lambda path: str(path.relative_to(CORPUS)))
def test_every_real_mail_keeps_its_first_lines_unchanged(path: Path) -> None:
    try:
        text = parse_email(path.read_bytes()).text
    except UnparseableEmail:
        return
    kept = new_text(text)
    # Only ever a cut at the end: what the author wrote first is never rewritten or dropped.
    assert text.replace("\r\n", "\n").startswith(kept)
    if text.strip() and not text.lstrip().startswith(("-----", "> ", ">")):
        assert kept.strip() or "Forwarded message" in text


@pytest.mark.skipif(not MAILS, reason="the shared mail corpus is not beside the repository")
@pytest.mark.parametrize(
    ("name", "ends_with", "cut"),
    [
        ("flanker/apache-message-news-mime.eml", "Thanks.\n\nRick", "Webmaster"),
        ("flanker/enclosed-global.eml", "дорогие мои!!!", "Co-founder"),
        ("mikel-mail/mime_emails/raw_email4.eml", "Some text", "Orange Multi Media"),
        (
            "mikel-mail/attachment_emails/attachment_with_encoded_name.eml",
            "as attachments.",
            "Forwarded message",
        ),
    ],
)
def test_real_signatures_and_forwards_below_the_text_are_cut(
    name: str, ends_with: str, cut: str
) -> None:
    kept = new_text(corpus_text(name))
    assert kept.endswith(ends_with) and cut not in kept


@pytest.mark.skipif(not MAILS, reason="the shared mail corpus is not beside the repository")
def test_a_bottom_posted_real_reply_keeps_the_quotes_it_answers() -> None:
    text = corpus_text("flanker/from-encoding.eml")
    kept = new_text(text)
    assert "> If you have a real uid of root" in kept
    assert "switching to an EUID of nobody" in kept


@pytest.mark.parametrize(
    "quote",
    [
        "On Mon, 30 Nov 2026 at 09:00, Cy <cy@customer.example> wrote:\n> It smokes.\n> Help.",
        "Am 30.11.2026 um 09:00 schrieb Cy <cy@customer.example>:\n> Es raucht.",
        "-----Original Message-----\nFrom: Cy\nSent: Monday\nTo: Support\n"
        "Subject: Fire\n\nIt smokes",
        "________________________________\nFrom: Cy <cy@customer.example>\nSent: Monday\n\nSmoke",
        "Cy wrote:\n> It smokes.\n>\n> Help!",
        "> It smokes.\n> Help!",
    ],
)
def test_common_client_quotes_below_a_reply_are_cut(quote: str) -> None:
    reply = "We replaced the toner.\r\nIt works now."
    assert new_text(f"{reply}\r\n\r\n{quote}\r\n") == "We replaced the toner.\nIt works now."


@pytest.mark.parametrize(
    "signature",
    [
        "-- \nAda Agent\nAcme support",
        "--\nAda",
        "Sent from my iPhone",
        "Get Outlook for iOS",
    ],
)
def test_signatures_are_cut(signature: str) -> None:
    assert new_text(f"Done.\n\n{signature}\n") == "Done."


def test_a_reply_that_is_all_quote_has_no_new_text() -> None:
    assert new_text("On Mon, Cy wrote:\n> It smokes.") == ""


def test_a_very_long_quoted_line_is_cut_in_time() -> None:
    line = "Am " + " schrieb " * 20_000
    assert new_text(f"Fine.\n\n> {line}\n") == "Fine."


@pytest.mark.parametrize(
    ("text", "note", "rest"),
    [
        ("#note\nCalled them.", True, "Called them."),
        ("  #NOTE: called them\nmore", True, "called them\nmore"),
        ("#notes are nice", False, "#notes are nice"),
        ("Hello\n#note", False, "Hello\n#note"),
    ],
)
def test_a_first_line_note_marks_a_note(text: str, note: bool, rest: str) -> None:
    assert split_note(text) == (note, rest)

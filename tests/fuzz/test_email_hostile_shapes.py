"""Hand-made hostile mail through intake's parser and mail path, and on into notify's replies.

Header injection (CR/LF in names and subjects) never reaches a parsed field nor a header of the
mail notify sends back; huge header counts and deep nesting end in time; compressed attachments
stay compressed (intake never inflates them); a huge base64 part costs memory linear in its size.
"""

import base64
import io
import tracemalloc
import zipfile
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest
from fuzzing import PROFILE
from mail_checks import check_parse
from notify_testkit import envelope_of, notify_of, ticket_created
from opentelemetry import trace

from helpline_intake.adapters.attachments import MemoryAttachmentStore
from helpline_intake.domain.email.message import InboundEmail
from helpline_intake.domain.inbound import PROCESSED, QUARANTINED
from helpline_intake.testing import intake_on_sqlite
from helpline_notify.adapters.fakes import FakeMailer, FakeWebhookSender
from helpline_notify.adapters.orm import metadata as notify_metadata
from helpline_notify.adapters.rendering import JinjaRenderer
from helpline_notify.adapters.smtp import build_message
from helpline_notify.bootstrap import MIGRATIONS as NOTIFY_MIGRATIONS
from helpline_notify.service_layer.ports import OutboundEmail
from helpline_notify.service_layer.unit_of_work import NotifyUnitOfWork
from helpline_notify.service_layer.worker import DeliveryWorker, WorkerOptions
from helpline_shared.envelope import Envelope
from helpline_shared.runtime.testing import sqlite_units_of_work

HUGE_SECONDS = 20.0
"""For the multi-megabyte shapes below; they take well under a second on an idle machine."""
HUGE_PART_MIB = 24 if PROFILE == "fuzz-long" else 10
"""A base64 part of this many MiB (the default message limit is 25 MiB)."""
INJECTED = "Bcc: victim@evil.example"
OUTGOING_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "reply-to",
    "auto-submitted",
    "x-auto-response-suppress",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
}
HEAD = b"From: Cy <cy@customer.example>\r\nTo: support@acme.test\r\n"


def encoded(text: str) -> str:
    """``text`` as an RFC 2047 encoded word: decoding it yields the raw characters."""
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


INJECTIONS = {
    "bare CR in the subject": b"Subject: Printer\r" + INJECTED.encode() + b"\r\n",
    "bare LF in the subject": b"Subject: Printer\n" + INJECTED.encode() + b"\r\n",
    "CR/LF inside an encoded subject": b"Subject: "
    + encoded("Printer\r\n" + INJECTED).encode()
    + b"\r\n",
    "unicode line breaks in the subject": b"Subject: "
    + encoded("a\x0bb\x0cc\x85d\u2028" + INJECTED).encode()
    + b"\r\n",
    "CR in a header name": b"Subject: Printer\r\nX-Evil\r" + INJECTED.encode() + b": 1\r\n",
    "CR/LF inside an encoded language": b"Subject: Printer\r\nContent-Language: "
    + encoded("en\r\n" + INJECTED).encode()
    + b"\r\n",
    "CR/LF inside an encoded sender name": b"Subject: Printer\r\nFrom: "
    + encoded("Cy\r\n" + INJECTED).encode()
    + b" <cy@customer.example>\r\n",
}


def hostile(shape: str) -> bytes:
    """A mail with the injection named ``shape`` in its headers."""
    return (
        HEAD
        + INJECTIONS[shape]
        + b"Message-ID: <"
        + shape.replace(" ", "-").encode()
        + (b"@customer.example>\r\n\r\nIt smokes.\r\n")
    )


@pytest.mark.parametrize("shape", INJECTIONS)
def test_injected_line_breaks_never_reach_the_parsed_fields(shape: str) -> None:
    parsed = check_parse(hostile(shape))
    assert parsed is not None
    assert len(parsed.subject.splitlines()) <= 1
    assert parsed.language in (None, "en")


@asynccontextmanager
async def notify_on_sqlite(
    directory: Path,
) -> AsyncIterator[tuple[Callable[[], NotifyUnitOfWork], DeliveryWorker, FakeMailer]]:
    """Notify's handler and delivery worker on SQLite, mailing into a ``FakeMailer``."""
    async with sqlite_units_of_work(
        directory / "notify.db", NOTIFY_MIGRATIONS, notify_metadata, NotifyUnitOfWork
    ) as (unit_of_work, _engine):
        mailer = FakeMailer()
        worker = DeliveryWorker(
            unit_of_work,
            mailer,
            FakeWebhookSender(),
            trace.get_tracer("fuzz"),
            WorkerOptions(email_domain="mail.acme.example"),
            renderer=JinjaRenderer(),
        )
        yield unit_of_work, worker, mailer


async def sent_for(envelope: Envelope, directory: Path) -> list[OutboundEmail]:
    """The mails notify sends for ``envelope``."""
    async with notify_on_sqlite(directory) as (unit_of_work, worker, mailer):
        await notify_of(envelope, unit_of_work)
        await worker.deliver_due()
        return list(mailer.sent)


def assert_headers_intact(email: OutboundEmail) -> None:
    """The mail on the wire has only the headers notify means to send, each on one line."""
    wire = build_message(email, "Helpline <helpline@acme.example>").as_bytes(policy=policy.SMTP)
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(wire)
    names = {name.lower() for name in headers}
    assert names <= OUTGOING_HEADERS, names - OUTGOING_HEADERS
    assert len(headers.get_all("to") or []) == 1
    subject = headers["subject"].replace("\r\n ", " ")
    assert "\r" not in subject and "\n" not in subject


@pytest.mark.parametrize("shape", INJECTIONS)
async def test_an_injected_mail_reaches_no_header_of_notifys_acknowledgement(
    shape: str, tmp_path: Path
) -> None:
    async with intake_on_sqlite(tmp_path) as intake:
        statuses = await intake.deliver(hostile(shape))
        events = await intake.events()
    created = [event for event in events if event.type == "helpline.ticket.created.v1"]
    if statuses == [QUARANTINED]:  # a sender name with CR/LF makes the From header unusable
        assert not created
        return
    assert statuses == [PROCESSED] and len(created) == 1
    sent = await sent_for(created[0], tmp_path)
    assert [email.to for email in sent] == ["cy@customer.example"]
    assert_headers_intact(sent[0])


async def test_a_subject_with_line_breaks_from_the_api_reaches_no_outgoing_header(
    tmp_path: Path,
) -> None:
    event = ticket_created("5b0c9e0e-53bb-4a35-8a63-0c3f9a3e0d61")
    event = event.model_copy(update={"subject": f"Printer\r\n{INJECTED}\r\n\r\nbody?"})
    sent = await sent_for(envelope_of(event), tmp_path)
    assert len(sent) == 1
    assert_headers_intact(sent[0])
    assert INJECTED in sent[0].subject  # kept as text, on the subject's one line


def test_fifty_thousand_headers_parse_within_the_bound() -> None:
    raw = (
        HEAD
        + b"Subject: many\r\n"
        + b"".join(b"X-Header-%d: value\r\n" % number for number in range(50_000))
        + b"\r\nbody"
    )
    parsed = check_parse(raw, HUGE_SECONDS)
    assert parsed is not None and parsed.subject == "many"


def nested_multipart(levels: int) -> bytes:
    """A mail whose multipart/mixed parts nest ``levels`` deep around one text part."""
    opening = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (level, level)
        for level in range(levels)
    )
    closing = b"".join(b"\r\n--b%d--\r\n" % level for level in reversed(range(levels)))
    return HEAD + b"Subject: deep\r\n" + opening + b"Content-Type: text/plain\r\n\r\nleaf" + closing


def nested_messages(levels: int) -> bytes:
    """A mail forwarding a mail forwarding a mail... ``levels`` deep (message/rfc822)."""
    raw = b"Subject: leaf\r\n\r\nleaf"
    for _ in range(levels):
        raw = HEAD + b"Subject: fwd\r\nContent-Type: message/rfc822\r\n\r\n" + raw
    return raw


@pytest.mark.parametrize(
    "raw", [nested_multipart(1000), nested_messages(1000)], ids=["multipart", "message-rfc822"]
)
async def test_mail_nested_a_thousand_levels_deep_is_quarantined_not_a_crash(
    raw: bytes, tmp_path: Path
) -> None:
    # Regression: the standard library's recursion used to escape as a RecursionError.
    assert check_parse(raw, HUGE_SECONDS) is None
    async with intake_on_sqlite(tmp_path) as intake:
        assert await intake.deliver(raw) == [QUARANTINED]
        async with intake.unit_of_work() as uow:
            [record] = await uow.mail.inbound_list(status=QUARANTINED, tenant_id="acme")
    assert record.reason == "MIME structure nested too deeply to parse"


def zip_bomb(megabytes: int) -> bytes:
    """A zip archive of one file of ``megabytes`` MB of zeros (about 1000:1)."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("zeros.bin", "w", force_zip64=True) as member,
    ):
        for _ in range(megabytes):
            member.write(bytes(1 << 20))
    return buffer.getvalue()


def deflate_bomb(megabytes: int, window_bits: int) -> bytes:
    """``megabytes`` MB of zeros deflated: a gzip stream (31) or raw deflate (-15)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, window_bits)
    return b"".join(compressor.compress(bytes(1 << 20)) for _ in range(megabytes)) + (
        compressor.flush()
    )


def with_attachments(*files: tuple[str, str, bytes, str]) -> bytes:
    """A mail with a text part and ``files`` (name, type, data, extra headers) in base64."""
    parts = [b"Content-Type: text/plain\r\n\r\nsee attached\r\n"]
    for name, content_type, data, extra in files:
        parts.append(
            f"Content-Type: {content_type}\r\n{extra}Content-Transfer-Encoding: base64"
            f"\r\nContent-Disposition: attachment; filename={name}\r\n\r\n".encode()
            + base64.encodebytes(data)
        )
    body = b"".join(b"--B\r\n" + part for part in parts) + b"--B--\r\n"
    return (
        HEAD
        + b"Subject: files\r\nMIME-Version: 1.0\r\n"
        + (b"Content-Type: multipart/mixed; boundary=B\r\n\r\n")
        + body
    )


async def test_compression_bombs_stay_compressed_in_memory_and_in_the_store(tmp_path: Path) -> None:
    bombs = {
        "bomb.zip": zip_bomb(100),
        "bomb.gz": deflate_bomb(100, 31),
        "deflate.bin": deflate_bomb(100, -15),
    }
    raw = with_attachments(
        ("bomb.zip", "application/zip", bombs["bomb.zip"], ""),
        ("bomb.gz", "application/gzip", bombs["bomb.gz"], ""),
        (
            "deflate.bin",
            "application/octet-stream",
            bombs["deflate.bin"],
            "Content-Encoding: deflate\r\n",
        ),
    )
    parsed, peak = parsed_with_peak_memory(raw)
    assert parsed is not None
    assert {item.filename: item.data for item in parsed.attachments} == bombs
    # 300 MB once inflated; parsing the 0.4 MB mail stays within a few MB.
    assert peak < 32 * 1024 * 1024
    async with intake_on_sqlite(tmp_path) as intake:
        assert await intake.deliver(raw) == [PROCESSED]
        store = intake.processing.attachments
    assert isinstance(store, MemoryAttachmentStore)
    assert sorted(store.files.values()) == sorted(bombs.values())


def parsed_with_peak_memory(raw: bytes) -> tuple[InboundEmail | None, int]:
    """``check_parse(raw)`` within the bound for huge shapes, and its peak Python allocations."""
    tracemalloc.start()
    try:
        parsed = check_parse(raw, HUGE_SECONDS)
        return parsed, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_huge_base64_part_parses_in_time_with_memory_linear_in_its_size() -> None:
    data = bytes(range(256)) * (HUGE_PART_MIB * 4096)
    raw = with_attachments(("huge.bin", "application/octet-stream", data, ""))
    parsed, peak = parsed_with_peak_memory(raw)
    assert parsed is not None and parsed.attachments[0].data == data
    # About 8x the mail today (the stdlib keeps lines, text and bytes at once): linear, bounded
    # by max_message_size; the bound catches a parse that keeps copies per part or per line.
    assert peak < 12 * len(raw)

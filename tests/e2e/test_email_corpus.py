"""Every mail of the real-world corpus becomes a ticket, a message or a quarantined item with a
reason — none crashes intake or hangs it.

The corpus (``../shared/data/email`` next to the repository) holds the test messages of two mature
mail libraries: bounces, complaints, broken MIME, odd charsets, a 3 MB nested mail.
"""

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from helpline_intake.domain.inbound import PROCESSED, QUARANTINED
from helpline_intake.service_layer.email_intake import replay
from helpline_intake.testing import Intake, intake_on_sqlite

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "data" / "email"
SECONDS_PER_MESSAGE = 60
"""Generous: the machine is shared; the point is that nothing hangs."""

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the email corpus is not at {CORPUS}")


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        path
        for path in CORPUS.rglob("*")
        if path.is_file() and path.name not in ("LICENSE", "README.md")
    )


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[Intake]:
    async with intake_on_sqlite(tmp_path) as made:
        yield made


async def test_the_whole_corpus_passes_through_intake_without_crash_or_hang(intake: Intake) -> None:
    files = corpus_files()
    assert len(files) > 100
    outcomes: dict[str, str] = {}
    for path in files:
        started = time.monotonic()
        statuses = await asyncio.wait_for(intake.deliver(path.read_bytes()), SECONDS_PER_MESSAGE)
        assert time.monotonic() - started < SECONDS_PER_MESSAGE
        outcomes[str(path.relative_to(CORPUS))] = statuses[0] if statuses else "duplicate"
    assert set(outcomes.values()) <= {PROCESSED, QUARANTINED, "duplicate"}
    assert list(outcomes.values()).count(PROCESSED) > len(files) // 2
    async with intake.unit_of_work() as uow:
        quarantined = await uow.mail.inbound_list(status=QUARANTINED, tenant_id="acme", limit=1000)
        processed = await uow.mail.inbound_list(status=PROCESSED, tenant_id="acme", limit=1000)
    assert all(record.reason for record in quarantined)
    tickets = await intake.tickets()
    assert all(ticket.subject and ticket.requester_email for ticket in tickets)
    assert len(tickets) <= len(processed)
    bounces = [
        event for event in await intake.events() if event.type == "helpline.email.bounced.v1"
    ]
    assert len(bounces) >= 5
    # A quarantined item can be replayed; it is quarantined again with its reason (nothing fixed).
    first = quarantined[0]
    assert await replay("acme", first.id, intake.processing) == QUARANTINED
    async with intake.unit_of_work() as uow:
        again = await uow.mail.inbound(first.id)
    assert again is not None and again.reason


C1 = re.compile("[\x80-\x9f]")


async def test_no_stored_subject_name_or_body_of_the_corpus_holds_a_c1_control(
    intake: Intake,
) -> None:
    for path in corpus_files():
        await asyncio.wait_for(intake.deliver(path.read_bytes()), SECONDS_PER_MESSAGE)
    tickets = await intake.tickets()
    assert len(tickets) > 50
    for ticket in tickets:
        for value in (ticket.subject, ticket.requester_name or "", ticket.description):
            assert not C1.search(value), (ticket.id, C1.findall(value), value[:200])
        for message in await intake.messages(ticket.id):
            assert not C1.search(message.body), (message.id, C1.findall(message.body))
            for item in message.attachments:
                assert not C1.search(item["filename"]), item["filename"]

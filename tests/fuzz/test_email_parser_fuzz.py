"""Intake's email parser under generated, random and mutated real-world mail.

Every input either parses into an ``InboundEmail`` whose header-derived fields carry no line
breaks, or raises the documented ``UnparseableEmail`` with a reason; each within a time bound.
Through intake's whole mail path every message ends processed or quarantined with a reason.
"""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fuzzing import fuzz_settings
from hypothesis import example, given
from hypothesis import strategies as st
from mail_checks import PARSE_SECONDS, check_parse
from mime_strategies import mails, mutated

from helpline_intake.domain.inbound import PROCESSED, QUARANTINED
from helpline_intake.testing import Intake, intake_on_sqlite

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "email"
MUTABLE_SIZE = 256 * 1024
"""Corpus mails mutated in ``make test``; the long profile mutates the 2-3 MB ones too."""


def corpus_files(max_size: int | None) -> list[Path]:
    """The real-world corpus next to the repository (empty when it is absent)."""
    if not CORPUS.is_dir():
        return []
    return sorted(
        path
        for path in CORPUS.rglob("*")
        if path.is_file()
        and path.name not in ("LICENSE", "README.md")
        and (max_size is None or path.stat().st_size <= max_size)
    )


CORPUS_ORIGINALS = [
    path.read_bytes()
    for path in corpus_files(None if fuzz_settings(1).max_examples > 1 else MUTABLE_SIZE)
]


@given(raw=mails())
@fuzz_settings(120)
@example(raw=b"From: a@b.example\r\nContent-Language: =?utf-8?b?ZW4NCkJjYzogdkB4?=\r\n\r\nx")
@example(raw=b'From: "@ \r\nContent-Type: text/plain\r\n\r\n')  # found: from_address "@ "
def test_generated_mail_parses_or_is_unparseable_within_the_bound(raw: bytes) -> None:
    check_parse(raw)


@given(raw=st.binary(max_size=4000))
@fuzz_settings(300)
def test_random_bytes_parse_or_are_unparseable_within_the_bound(raw: bytes) -> None:
    check_parse(raw)


@pytest.mark.skipif(not CORPUS_ORIGINALS, reason=f"the email corpus is not at {CORPUS}")
@given(raw=st.deferred(lambda: mutated(CORPUS_ORIGINALS)))
@fuzz_settings(250)
def test_mutated_corpus_mail_parses_or_is_unparseable_within_the_bound(raw: bytes) -> None:
    check_parse(raw, seconds=PARSE_SECONDS * 5)  # up to 256 kB (3 MB in the long profile)


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[Intake]:
    async with intake_on_sqlite(tmp_path) as made:
        yield made


@given(raw=mails() | st.binary(max_size=2000))
@fuzz_settings(30)
async def test_every_generated_mail_ends_processed_or_quarantined_with_a_reason(
    intake: Intake, raw: bytes
) -> None:
    statuses = await intake.deliver(raw)
    assert set(statuses) <= {PROCESSED, QUARANTINED}  # [] when it duplicates an earlier one
    async with intake.unit_of_work() as uow:
        quarantined = await uow.mail.inbound_list(
            status=QUARANTINED, tenant_id="acme", limit=10_000
        )
    assert all(record.reason for record in quarantined)

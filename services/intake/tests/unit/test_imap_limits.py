"""The IMAP poller never downloads mail larger than the limit SMTP enforces."""

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from helpline_intake.adapters.imap_source import ImapAccount
from helpline_intake.entrypoints import imap
from helpline_intake.testing import Intake, intake_on_sqlite, mail

QUARANTINED = "helpline.email.quarantined.v1"
SMALL = mail(subject="Small one").as_bytes()
LARGE = mail(subject="Large one", body="x" * 5000).as_bytes()


class FakeFolder:
    """An IMAP folder holding two mails; records what was downloaded whole."""

    downloaded: list[int] = []

    def __init__(self, account: ImapAccount, addresses: object, **options: object) -> None:
        self.account = account
        self.uidvalidity = 7
        self.mails = {1: SMALL, 2: LARGE}

    def uids_after(self, last_uid: int) -> list[int]:
        return [uid for uid in self.mails if uid > last_uid]

    def uids_up_to(self, last_uid: int) -> list[int]:
        return []

    def sizes(self, uids: list[int]) -> dict[int, int]:
        return {uid: len(self.mails[uid]) for uid in uids}

    def fetch(self, uids: list[int]) -> dict[int, bytes]:
        FakeFolder.downloaded.extend(uids)
        return {uid: self.mails[uid] for uid in uids}

    def fetch_headers(self, uids: list[int]) -> dict[int, bytes]:
        return {uid: self.mails[uid].split(b"\n\n", 1)[0] + b"\n\n" for uid in uids}

    def move(self, uids: list[int]) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[Intake]:
    async with intake_on_sqlite(tmp_path) as made:
        yield made


async def test_oversize_imap_mail_is_quarantined_without_being_downloaded(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imap, "ImapFolder", FakeFolder)
    FakeFolder.downloaded = []
    mailbox = dataclasses.replace(
        intake.mailboxes["support@acme.test"],
        imap={"host": "127.0.0.1", "username": "u", "password": "p"},
    )
    limit = len(SMALL) + 100
    policy = imap.ImapPolicy(allow_private_networks=True, max_message_size=limit)
    assert await imap.poll_mailbox(mailbox, intake.processing, 50, policy) == 2
    assert FakeFolder.downloaded == [1]
    [ticket] = await intake.tickets()
    assert ticket.subject == "Small one"
    [quarantined] = [e.event for e in await intake.events() if e.type == QUARANTINED]
    assert f"larger than HELPLINE_MAX_MESSAGE_SIZE ({limit})" in quarantined.reason  # type: ignore[attr-defined]
    assert "not downloaded" in quarantined.reason  # type: ignore[attr-defined]

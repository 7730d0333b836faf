"""IMAP mail over HELPLINE_MAX_MESSAGE_SIZE, against a real Dovecot: never downloaded whole."""

import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient

from helpline_devstack.dovecot import DovecotServer
from helpline_intake.entrypoints import imap
from helpline_intake.testing import Intake, intake_on_sqlite, mail

pytestmark = [pytest.mark.integration]

PASSWORD = "imap-size-password"
QUARANTINED = "helpline.email.quarantined.v1"
LIMIT = 20_000


@pytest.fixture
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    server = DovecotServer(tmp_path_factory.mktemp("dovecot"))
    server.add_user("support@acme.test", PASSWORD)
    with server:
        yield server
    server.destroy()


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[Intake]:
    async with intake_on_sqlite(tmp_path) as made:
        yield made


async def test_oversize_mail_is_quarantined_from_its_header_and_stays_on_the_server(
    dovecot: DovecotServer, intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = IMAPClient("127.0.0.1", port=dovecot.port, ssl=False, timeout=30)
    client.login("support@acme.test", PASSWORD)
    client.append("INBOX", mail(subject="Small one").as_bytes())
    client.append("INBOX", mail(subject="Huge one", body="x" * (LIMIT * 3)).as_bytes())
    downloaded: list[int] = []
    real_fetch = imap.ImapFolder.fetch

    def counting_fetch(self: imap.ImapFolder, uids: list[int]) -> dict[int, bytes]:
        downloaded.extend(uids)
        return real_fetch(self, uids)

    monkeypatch.setattr(imap.ImapFolder, "fetch", counting_fetch)
    mailbox = dataclasses.replace(
        intake.mailboxes["support@acme.test"],
        imap={
            "host": "127.0.0.1",
            "port": dovecot.port,
            "username": "support@acme.test",
            "password": PASSWORD,
            "ssl": False,
        },
    )
    policy = imap.ImapPolicy(
        allow_private_networks=True, allow_plaintext=True, max_message_size=LIMIT
    )
    assert await imap.poll_mailbox(mailbox, intake.processing, 50, policy) == 2
    assert len(downloaded) == 1
    [ticket] = await intake.tickets()
    assert ticket.subject == "Small one"
    [quarantined] = [e.event for e in await intake.events() if e.type == QUARANTINED]
    reason: str = quarantined.reason  # type: ignore[attr-defined]
    assert f"larger than HELPLINE_MAX_MESSAGE_SIZE ({LIMIT})" in reason
    client.select_folder("INBOX")
    assert len(client.search(["SUBJECT", "Huge one"])) == 1  # still on the server
    client.logout()

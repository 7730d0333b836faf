"""The IMAP poller goes through the shared destination guard and insists on TLS."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from helpline_intake.adapters.imap_source import ImapTlsRequired
from helpline_intake.domain.directory import Mailbox
from helpline_intake.entrypoints.imap import ImapPolicy, poll_mailbox
from helpline_intake.testing import Intake, intake_on_sqlite
from helpline_shared.netguard import DestinationRefused


class FakeImapServer:
    """Greets like an IMAP server without STARTTLS and records every line it is sent."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> "FakeImapServer":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.write(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")
        while line := await reader.readline():
            self.lines.append(line)
            tag, _, command = line.decode().partition(" ")
            if command.upper().startswith("CAPABILITY"):
                writer.write(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n")
            writer.write(
                f"{tag} NO not here\r\n".encode()
                if command.upper().startswith("LOGIN")
                else f"{tag} OK done\r\n".encode()
            )
            await writer.drain()
        writer.close()


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[Intake]:
    async with intake_on_sqlite(tmp_path) as made:
        yield made


def imap_mailbox(intake: Intake, host: str, port: int, ssl: bool = False) -> Mailbox:
    return replace(
        intake.mailboxes["support@acme.test"],
        imap={
            "host": host,
            "port": port,
            "username": "support@acme.test",
            "password": "secret",
            "ssl": ssl,
        },
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::ffff:127.0.0.1"])
async def test_a_mailbox_on_a_private_address_is_refused_before_connecting(
    intake: Intake, host: str
) -> None:
    async with FakeImapServer() as server:
        mailbox = imap_mailbox(intake, host, server.port)
        with pytest.raises(DestinationRefused, match="loopback"):
            await poll_mailbox(mailbox, intake.processing, 10, ImapPolicy())
    assert server.connections == 0


async def test_a_server_without_tls_never_sees_the_password(intake: Intake) -> None:
    async with FakeImapServer() as server:
        mailbox = imap_mailbox(intake, "127.0.0.1", server.port)
        with pytest.raises(ImapTlsRequired):
            await poll_mailbox(
                mailbox, intake.processing, 10, ImapPolicy(allow_private_networks=True)
            )
    assert server.connections == 1
    assert not any(b"LOGIN" in line.upper() or b"secret" in line for line in server.lines)


async def test_plaintext_is_used_only_when_development_allows_it(intake: Intake) -> None:
    async with FakeImapServer() as server:
        mailbox = imap_mailbox(intake, "127.0.0.1", server.port)
        with pytest.raises(Exception, match="not here"):
            await poll_mailbox(
                mailbox,
                intake.processing,
                10,
                ImapPolicy(allow_private_networks=True, allow_plaintext=True),
            )
    assert any(b"LOGIN" in line.upper() for line in server.lines)

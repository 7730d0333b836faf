"""An IMAP folder read with imapclient (BSD): UIDVALIDITY, UIDs, peek-fetch, optional move.

The connection goes to an address the destination guard checked (``helpline_shared.netguard``),
never to whatever the host name resolves to later, while TLS still verifies the host name.
"""

import contextlib
import imaplib
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from imapclient import IMAPClient

from helpline_intake.domain.errors import IntakeError

HEADER_LIMIT = 256_000
"""The most of an oversize mail's header kept for its quarantine record."""


class ImapTlsRequired(IntakeError):
    """The IMAP server offers neither IMAPS nor STARTTLS, and plaintext is not allowed."""


@dataclass(frozen=True)
class ImapAccount:
    """Where a mailbox hosted elsewhere is read."""

    host: str
    port: int
    username: str
    password: str
    folder: str = "INBOX"
    move_to: str | None = None
    ssl: bool = True

    @classmethod
    def of(cls, settings: dict[str, Any]) -> "ImapAccount":
        """Read the ``imap`` settings of a mailbox."""
        return cls(
            host=str(settings["host"]),
            port=int(settings.get("port", 993)),
            username=str(settings["username"]),
            password=str(settings["password"]),
            folder=str(settings.get("folder") or "INBOX"),
            move_to=settings.get("move_to") or None,
            ssl=bool(settings.get("ssl", True)),
        )


class _PinnedImap(imaplib.IMAP4):
    """IMAP to a checked address; with a TLS context (IMAPS) the certificate must match host."""

    def __init__(
        self,
        host: str,
        address: str,
        port: int,
        context: ssl.SSLContext | None,
        timeout: float | None,
    ) -> None:
        self._address = address
        self._context = context
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        sock = socket.create_connection((self._address, self.port), timeout=timeout)
        if self._context is None:
            return sock
        return self._context.wrap_socket(sock, server_hostname=self.host)


class _PinnedClient(IMAPClient):  # type: ignore[misc]  # imapclient ships no types
    """An IMAPClient that connects to ``address`` while speaking to (and verifying) ``host``."""

    def __init__(self, host: str, address: str, **options: Any) -> None:
        self._address = address
        super().__init__(host, **options)

    def _create_IMAP4(self) -> imaplib.IMAP4:
        timeout = getattr(self._timeout, "connect", None)
        return _PinnedImap(
            self.host, self._address, self.port, self.ssl_context if self.ssl else None, timeout
        )


class ImapFolder:
    """A connected folder; blocking calls, run them in a worker thread."""

    def __init__(
        self,
        account: ImapAccount,
        addresses: list[str],
        *,
        allow_plaintext: bool = False,
        timeout: float = 30.0,
    ) -> None:
        self.account = account
        context = ssl.create_default_context()
        self._client = self._open(account, addresses, context, timeout)
        if not account.ssl:
            offered = b"STARTTLS" in self._client.capabilities()
            if offered:
                self._client.starttls(context)
            elif not allow_plaintext:
                self.close()
                raise ImapTlsRequired(
                    "the IMAP server offers no STARTTLS; use IMAPS (ssl) or a server with TLS"
                )
        self._client.login(account.username, account.password)
        selected = self._client.select_folder(account.folder)
        self.uidvalidity = int(selected[b"UIDVALIDITY"])

    @staticmethod
    def _open(
        account: ImapAccount, addresses: list[str], context: ssl.SSLContext, timeout: float
    ) -> IMAPClient:
        last_error: OSError | None = None
        for address in addresses:
            try:
                return _PinnedClient(
                    account.host,
                    address,
                    port=account.port,
                    ssl=account.ssl,
                    ssl_context=context,
                    timeout=timeout,
                )
            except OSError as error:
                last_error = error
        raise last_error or OSError("the IMAP host has no address")

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above ``last_uid``, ascending (``n:*`` always matches the newest: filtered)."""
        found = self._client.search(["UID", f"{last_uid + 1}:*"])
        return sorted(int(uid) for uid in found if int(uid) > last_uid)

    def uids_up_to(self, last_uid: int) -> list[int]:
        """UIDs at or below ``last_uid`` still in the folder (stored, but not moved yet)."""
        if last_uid < 1:
            return []
        return sorted(
            int(uid)
            for uid in self._client.search(["UID", f"1:{last_uid}"])
            if int(uid) <= last_uid
        )

    def fetch(self, uids: list[int]) -> dict[int, bytes]:
        """The raw bytes of ``uids``, without setting \\Seen (BODY.PEEK)."""
        if not uids:
            return {}
        response = self._client.fetch(uids, ["BODY.PEEK[]"])
        return {
            int(uid): bytes(data[b"BODY[]"]) for uid, data in response.items() if b"BODY[]" in data
        }

    def sizes(self, uids: list[int]) -> dict[int, int]:
        """The size the server states (RFC822.SIZE) of each of ``uids``, without fetching them."""
        if not uids:
            return {}
        response = self._client.fetch(uids, ["RFC822.SIZE"])
        return {
            int(uid): int(data[b"RFC822.SIZE"])
            for uid, data in response.items()
            if b"RFC822.SIZE" in data
        }

    def fetch_headers(self, uids: list[int]) -> dict[int, bytes]:
        """Only the header of ``uids`` (BODY.PEEK[HEADER]): what is kept of oversize mail."""
        if not uids:
            return {}
        response = self._client.fetch(uids, ["BODY.PEEK[HEADER]"])
        return {
            int(uid): bytes(data[b"BODY[HEADER]"])[:HEADER_LIMIT]
            for uid, data in response.items()
            if b"BODY[HEADER]" in data
        }

    def move(self, uids: list[int]) -> None:
        """Move processed mail to the ``move_to`` folder (only ever after it is stored)."""
        if not uids or not self.account.move_to:
            return
        if not self._client.folder_exists(self.account.move_to):
            self._client.create_folder(self.account.move_to)
        self._client.move(uids, self.account.move_to)

    def close(self) -> None:
        """Log out, ignoring a connection that is already gone."""
        # Closing a dead connection is not an error.
        with contextlib.suppress(Exception):
            self._client.logout()

"""Email out through an SMTP server (aiosmtplib)."""

import asyncio
import base64
import binascii
import collections
import contextlib
import functools
import re
import secrets
from email.message import EmailMessage
from email.utils import formataddr, formatdate, getaddresses
from typing import cast

import aiosmtplib
from aiosmtplib.protocol import (
    MAX_LINE_LENGTH,
    MAX_RESPONSE_LENGTH,
    PERIOD_REGEX,
    normalize_message_line_endings,
)
from aiosmtplib.response import SMTPResponse
from aiosmtplib.typing import SMTPStatus

from helpline_notify.domain.errors import DeliveryAttemptFailed
from helpline_notify.domain.threading import HUMAN
from helpline_notify.service_layer.ports import OutboundEmail


def build_message(email: OutboundEmail, mail_from: str) -> EmailMessage:
    """The RFC 5322 message of ``email``: from ``mail_from`` unless it names its own sender (a
    person's reply), and marked as automatic unless a person wrote it."""
    message = EmailMessage()
    message["From"] = email.headers.get("From", mail_from)
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = email.message_id
    for name, value in email.headers.items():
        if name.lower() not in ("message-id", "auto-submitted", "from"):
            message[name] = value
    submitted = email.headers.get("Auto-Submitted", "auto-generated")
    if submitted != HUMAN:
        # RFC 3834: auto-responders must not answer; the Microsoft header says so to Exchange.
        message["Auto-Submitted"] = submitted
        message["X-Auto-Response-Suppress"] = "All"
    message.set_content(email.text)
    if email.html is not None:
        message.add_alternative(email.html, subtype="html")
    for item in email.attachments:
        maintype, _, subtype = item.content_type.partition("/")
        if not (maintype and subtype):
            maintype, subtype = "application", "octet-stream"
        message.add_attachment(
            item.data, maintype=maintype, subtype=subtype, filename=item.filename
        )
    return message


MAX_LINE = 78
"""RFC 5322 2.1.1: lines SHOULD be at most 78 characters (998 is the hard limit)."""
_ADDRESS_HEADERS = frozenset({"from", "to", "reply-to"})
_ENCODED_WORD_BYTES = 42
"""UTF-8 bytes per RFC 2047 encoded word: 56 base64 characters, 68 with the markers (limit 75),
so that a header name and one word still fit in ``MAX_LINE``."""


class NotPlain(Exception):
    """The mail needs the full ``email`` package to be written (attachments, odd headers)."""


def _plain_ascii(value: str) -> bool:
    return value.isascii() and value.isprintable()


def _encoded_words(text: str) -> list[str]:
    """``text`` as RFC 2047 encoded words, each under 75 characters, split between characters."""
    words: list[str] = []
    chunk = bytearray()
    for character in text:
        data = character.encode()
        if len(chunk) + len(data) > _ENCODED_WORD_BYTES:
            words.append(f"=?utf-8?b?{base64.b64encode(chunk).decode()}?=")
            chunk.clear()
        chunk += data
    if chunk:
        words.append(f"=?utf-8?b?{base64.b64encode(chunk).decode()}?=")
    return words


def _text_words(value: str) -> list[str]:
    """The words of an unstructured header value, runs of non-ASCII ones as encoded words (ASCII
    words stay readable, as the ``email`` package writes them)."""
    words: list[str] = []
    run: list[str] | None = None
    for word in value.split(" "):
        if word and (not word.isascii() or "=?" in word):
            run = [] if run is None else run
            run.append(word)
            continue
        if run is not None and not word:
            run.append(word)  # the spaces between encoded words are part of the text
            continue
        if run is not None:
            words.extend(_encoded_words(" ".join(run)))
            run = None
        words.append(word)
    if run is not None:
        words.extend(_encoded_words(" ".join(run)))
    return words


def _folded(name: str, words: list[str]) -> str:
    """The header line ``name: words``, folded at spaces under ``MAX_LINE`` where it can be."""
    lines: list[str] = []
    line = f"{name}:"
    for word in words:
        if len(word) > 900:
            raise NotPlain(name)
        if word and len(line) + 1 + len(word) > MAX_LINE and line not in ("", f"{name}:"):
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    return "\r\n".join(lines)


_BARE_ADDRESS = re.compile(
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
)
"""An address with no display name, quotes or comments: ``getaddresses`` would return it as is."""


@functools.lru_cache(maxsize=256)
def _address_header(name: str, value: str) -> tuple[str, str]:
    """The header line of one address (a display name encoded when not ASCII), and the address
    (kept for the few values every mail repeats, as the sender: parsing is most of the cost)."""
    if _BARE_ADDRESS.fullmatch(value):
        return _folded(name, [value]), value
    parsed = getaddresses([value])
    if len(parsed) != 1:
        raise NotPlain(name)
    display, address = parsed[0]
    if not (_plain_ascii(address) and "@" in address and " " not in address):
        raise NotPlain(name)
    if not display:
        return _folded(name, [address]), address
    if not display.isprintable():
        raise NotPlain(name)
    if display.isascii():
        return _folded(name, formataddr((display, address)).split(" ")), address
    encoded = _encoded_words(display)
    if len(encoded) > 1:
        # Readers put a space between adjacent encoded words of a phrase (RFC 2047 says to
        # drop it): a long name keeps the email package's single word.
        raise NotPlain(name)
    return _folded(name, [*encoded, f"<{address}>"]), address


@functools.lru_cache(maxsize=1024)
def _text_header(name: str, value: str) -> str:
    """The folded line of an unstructured header, kept for the values many mails repeat (the
    date of this second, Auto-Submitted, a ticket's Reply-To and thread)."""
    return _folded(name, _text_words(value))


def _body(text: str) -> tuple[str, bytes]:
    """The transfer encoding and CRLF-ended body of ``text``: 7bit when it is short-lined ASCII,
    else quoted-printable (the choice the ``email`` package makes, without its policy)."""
    lines = text.encode().splitlines()
    if text.isascii() and all(len(line) <= MAX_LINE for line in lines):
        return "7bit", b"\r\n".join(lines) + b"\r\n"
    encoded = binascii.b2a_qp(b"\n".join(lines) + b"\n")
    return "quoted-printable", encoded.replace(b"\n", b"\r\n")


def _text_part(subtype: str, text: str) -> bytes:
    cte, body = _body(text)
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}'
    return head.encode() + b"\r\n\r\n" + body


def wire_message(email: OutboundEmail, mail_from: str) -> tuple[str, list[str], bytes]:
    """The envelope sender, recipients and bytes of ``email``, written directly rather than
    through ``EmailMessage`` (whose policy parses every header: most of a send's CPU). Raises
    ``NotPlain`` for what only ``build_message`` writes: attachments, non-ASCII addresses,
    control characters in a header."""
    if email.attachments:
        raise NotPlain("attachments")
    lines: list[str] = []
    sender, from_line = "", ""
    headers = {
        "From": email.headers.get("From", mail_from),
        "To": email.to,
        "Subject": email.subject,
        "Date": formatdate(localtime=False, usegmt=True),
        "Message-ID": email.message_id,
    }
    for name, value in email.headers.items():
        if name.lower() not in ("message-id", "auto-submitted", "from", "to", "subject", "date"):
            headers[name] = value
    submitted = email.headers.get("Auto-Submitted", "auto-generated")
    if submitted != HUMAN:
        # RFC 3834: auto-responders must not answer; the Microsoft header says so to Exchange.
        headers["Auto-Submitted"] = submitted
        headers["X-Auto-Response-Suppress"] = "All"
    recipient = ""
    for name, value in headers.items():
        if not (name.isascii() and name.replace("-", "").isalnum()) or not value.isprintable():
            raise NotPlain(name)
        if name.lower() in _ADDRESS_HEADERS:
            line, address = _address_header(name, value)
            if name == "From":
                sender, from_line = address, line
                continue
            recipient = address if name == "To" else recipient
        else:
            line = _text_header(name, value)
        lines.append(line)
    lines.insert(0, from_line)
    lines.append("MIME-Version: 1.0")
    head = "\r\n".join(lines).encode() + b"\r\n"
    if email.html is None:
        return sender, [recipient], head + _text_part("plain", email.text)
    parts = [_text_part("plain", email.text), _text_part("html", email.html)]
    boundary = f"=_{secrets.token_hex(16)}"
    while any(boundary.encode() in part for part in parts):
        boundary = f"=_{secrets.token_hex(16)}"  # pragma: no cover - 128 random bits
    # RFC 2046 5.1.1: the line break before a delimiter belongs to the delimiter.
    delimiter = f"\r\n--{boundary}".encode()
    return (
        sender,
        [recipient],
        head
        + f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n'.encode()
        + b"".join(delimiter + b"\r\n" + part for part in parts)
        + delimiter
        + b"--\r\n",
    )


async def _send_plain(session: aiosmtplib.SMTP, sender: str, recipient: str, data: bytes) -> None:
    """MAIL, RCPT and DATA of one ``wire_message`` on a greeted session, as ``sendmail`` sends
    them, without its per-mail parsing of both addresses twice and measuring of the message
    (most of a send's CPU after the round trips): the addresses are bare (nothing on an SMTP
    command line to quote or refuse) and ``data`` has CRLF line ends already."""
    try:
        size = [f"SIZE={len(data)}".encode()] if session.supports_extension("size") else []
        response = await session.execute_command(b"MAIL", b"FROM:<%s>" % sender.encode(), *size)
        if response.code != SMTPStatus.completed:
            raise aiosmtplib.SMTPSenderRefused(response.code, response.message, sender)
        response = await session.execute_command(b"RCPT", b"TO:<%s>" % recipient.encode())
        if response.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
            refusal = aiosmtplib.SMTPRecipientRefused(response.code, response.message, recipient)
            raise aiosmtplib.SMTPRecipientsRefused([refusal])
        await session.data(data)
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
        # The envelope is reset for the session's next mail, as ``sendmail`` does.
        with contextlib.suppress(ConnectionError, aiosmtplib.SMTPResponseException):
            await session.rset()
        raise


class _Replies(asyncio.Protocol):
    """Holds a session's transport for one pipelined mail transaction (RFC 2920) and parses
    every reply the server sends, in order: aiosmtplib's protocol keeps one parsed reply and
    drops the data that follows it, so it cannot read the replies of commands sent together.
    The session's own protocol gets the transport back afterwards, and hears of a lost
    connection or paused writing meanwhile."""

    def __init__(self, session_protocol: asyncio.BaseProtocol) -> None:
        self._session_protocol = session_protocol
        self._buffer = bytearray()
        self._replies: collections.deque[SMTPResponse] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._failure: Exception | None = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            while (reply := self._parse()) is not None:
                self._replies.append(reply)
        except aiosmtplib.SMTPResponseException as error:
            self._failure = error
        self._wake()

    def _parse(self) -> SMTPResponse | None:
        """The first complete reply in the buffer (taken from it), if there is one."""
        lines: list[bytes] = []
        offset = 0
        while (end := self._buffer.find(b"\n", offset)) != -1:
            line = bytes(self._buffer[offset : end + 1])
            offset = end + 1
            if len(line) > MAX_LINE_LENGTH or not line[:3].isdigit():
                raise aiosmtplib.SMTPResponseException(
                    SMTPStatus.invalid_response, "Malformed SMTP response line"
                )
            lines.append(line[4:].strip(b" \t\r\n"))
            if line[3:4] != b"-":
                del self._buffer[:offset]
                text = b"\n".join(lines).decode("utf-8", "surrogateescape")
                return SMTPResponse(int(line[:3]), text)
        if len(self._buffer) > MAX_RESPONSE_LENGTH:
            raise aiosmtplib.SMTPResponseException(SMTPStatus.invalid_response, "Response too long")
        return None

    def eof_received(self) -> bool:
        return False  # the transport closes: ``connection_lost`` follows

    def connection_lost(self, exc: Exception | None) -> None:
        error = aiosmtplib.SMTPServerDisconnected("Connection lost")
        error.__cause__ = exc
        self._failure = self._failure or error
        self._wake()
        self._session_protocol.connection_lost(exc)

    def pause_writing(self) -> None:
        self._session_protocol.pause_writing()

    def resume_writing(self) -> None:
        self._session_protocol.resume_writing()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def reply(self, timeout: float | None) -> SMTPResponse:
        """The next reply, in the order the commands were sent."""
        while not self._replies:
            if self._failure is not None:
                raise self._failure
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout):
                    await self._waiter
            except TimeoutError as error:
                raise aiosmtplib.SMTPReadTimeoutError("Timed out waiting for a reply") from error
            finally:
                self._waiter = None
        return self._replies.popleft()


async def _send_pipelined(
    session: aiosmtplib.SMTP, sender: str, recipient: str, data: bytes
) -> None:
    """``_send_plain`` on a session whose server takes PIPELINING: MAIL, RCPT and DATA in one
    write and their replies read together, then the message: two round trips, not four. A
    refusal raises what ``_send_plain`` raises for it, after the envelope is reset."""
    protocol = session.protocol
    # Not ``isinstance(transport, asyncio.Transport)``: uvloop's transports (the services' loop)
    # are not its subclasses, and every mail failed as a lost connection.
    transport = cast("asyncio.Transport | None", protocol.transport if protocol else None)
    if transport is None or transport.is_closing():
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    size = b" SIZE=%d" % len(data) if session.supports_extension("size") else b""
    previous = transport.get_protocol()
    replies = _Replies(previous)
    transport.set_protocol(replies)
    try:
        transport.write(
            b"MAIL FROM:<%s>%s\r\nRCPT TO:<%s>\r\nDATA\r\n"
            % (sender.encode(), size, recipient.encode())
        )
        mail, rcpt, start = [await replies.reply(session.timeout) for _ in range(3)]
        refused: aiosmtplib.SMTPResponseException | aiosmtplib.SMTPRecipientsRefused | None = None
        if mail.code != SMTPStatus.completed:
            refused = aiosmtplib.SMTPSenderRefused(mail.code, mail.message, sender)
        elif rcpt.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
            refused = aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(rcpt.code, rcpt.message, recipient)]
            )
        elif start.code != SMTPStatus.start_input:
            refused = aiosmtplib.SMTPDataError(start.code, start.message)
        if start.code == SMTPStatus.start_input:
            # RFC 2920 3.1: a DATA accepted after a refusal still takes a message: an empty one.
            body = b"" if refused else PERIOD_REGEX.sub(b"..", normalize_message_line_endings(data))
            transport.write(body + b".\r\n")
            sent = await replies.reply(session.timeout)
            if refused is None and sent.code != SMTPStatus.completed:
                refused = aiosmtplib.SMTPDataError(sent.code, sent.message)
        if refused is not None:
            # The envelope is reset for the session's next mail; the refusal is what is raised.
            with contextlib.suppress(ConnectionError, aiosmtplib.SMTPResponseException):
                transport.write(b"RSET\r\n")
                await replies.reply(session.timeout)
            raise refused
    finally:
        if not transport.is_closing():
            transport.set_protocol(previous)


class SmtpMailer:
    """Hands each email to one SMTP server (STARTTLS when the server offers it), reusing its
    sessions: a batch of mail costs one connection and handshake per concurrent send, not one
    per email."""

    def __init__(
        self, host: str, port: int, mail_from: str, timeout: float = 15.0, max_sessions: int = 8
    ) -> None:
        self._host = host
        self._port = port
        self._mail_from = mail_from
        self._timeout = timeout
        self._max_idle = max_sessions
        self._idle: list[aiosmtplib.SMTP] = []
        # The worker may have hundreds of mails in flight: they queue here for one of a few
        # sessions, all kept open, instead of each opening (and closing) its own connection.
        self._sessions = asyncio.Semaphore(max_sessions)

    async def send(self, email: OutboundEmail) -> None:
        """Send ``email``; a 5xx answer is a permanent failure, anything else may be retried."""
        try:
            try:
                sender, recipients, data = wire_message(email, self._mail_from)
            except NotPlain:
                await self._send(build_message(email, self._mail_from))
            else:
                await self._send(data, sender, recipients)
        except aiosmtplib.SMTPRecipientsRefused as error:
            permanent = all(refusal.code >= 500 for refusal in error.recipients)
            codes = ", ".join(str(refusal.code) for refusal in error.recipients)
            raise DeliveryAttemptFailed(
                f"SMTP recipient refused ({codes})", permanent=permanent
            ) from error
        except aiosmtplib.SMTPResponseException as error:
            raise DeliveryAttemptFailed(
                f"SMTP {error.code}: {error.message}"[:500], permanent=error.code >= 500
            ) from error
        except (aiosmtplib.SMTPException, OSError) as error:
            raise DeliveryAttemptFailed(f"SMTP: {type(error).__name__}: {error}"[:500]) from error

    async def _send(
        self, message: EmailMessage | bytes, sender: str = "", recipients: list[str] | None = None
    ) -> None:
        async with self._sessions:
            await self._send_in_session(message, sender, recipients)

    async def _send_in_session(
        self, message: EmailMessage | bytes, sender: str, recipients: list[str] | None
    ) -> None:
        while self._idle:
            session = self._idle.pop()
            if not session.is_connected:
                continue
            try:
                await self._hand(session, message, sender, recipients)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                session.close()  # the server closed an idle session: a new one is opened
                continue
            except BaseException:
                session.close()
                raise
            self._keep(session)
            return
        session = aiosmtplib.SMTP(hostname=self._host, port=self._port, timeout=self._timeout)
        await session.connect()
        try:
            await self._hand(session, message, sender, recipients)
        except BaseException:
            session.close()
            raise
        self._keep(session)

    @staticmethod
    async def _hand(
        session: aiosmtplib.SMTP,
        message: EmailMessage | bytes,
        sender: str,
        recipients: list[str] | None,
    ) -> None:
        if not isinstance(message, bytes):
            await session.send_message(message)
        elif (
            recipients
            and len(recipients) == 1
            and not session.is_ehlo_or_helo_needed
            and _BARE_ADDRESS.fullmatch(sender)
            and _BARE_ADDRESS.fullmatch(recipients[0])
        ):
            if session.supports_extension("pipelining"):
                await _send_pipelined(session, sender, recipients[0], message)
            else:
                await _send_plain(session, sender, recipients[0], message)
        else:
            await session.sendmail(sender, recipients or [], message)

    def _keep(self, session: aiosmtplib.SMTP) -> None:
        if len(self._idle) < self._max_idle:
            self._idle.append(session)
        else:
            session.close()

    async def aclose(self) -> None:
        """End the idle sessions."""
        idle, self._idle = self._idle, []
        for session in idle:
            try:
                await session.quit()
            except (aiosmtplib.SMTPException, OSError):
                session.close()

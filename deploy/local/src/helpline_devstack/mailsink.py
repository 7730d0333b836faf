"""SMTP sinks: one stores every received message as one .eml file, one only counts them."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import sys
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def advertise_pipelining(responses: list[str]) -> list[str]:
    """aiosmtpd's EHLO answer with PIPELINING (RFC 2920) among its extensions.

    aiosmtpd reads commands in order as they arrive, so pipelined ones are answered right, but
    it never advertises it; the servers Helpline mails through (Postfix, Exim, the providers')
    do, and notify pipelines a mail's MAIL, RCPT and DATA where they are advertised."""
    return [*responses[:-1], "250-PIPELINING", responses[-1]]


class _EmlWriter:
    """aiosmtpd handler writing the raw DATA bytes of each message to ``directory``; it
    advertises PIPELINING as real servers do."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """Greet as aiosmtpd does, with PIPELINING advertised."""
        session.host_name = hostname
        return advertise_pipelining(responses)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Store the message atomically and accept it."""
        raw = envelope.original_content or b""
        with self._lock:
            number = next(self._counter)
        name = f"{time.time_ns()}-{number}.eml"
        temp = self.directory / f".{name}.tmp"
        temp.write_bytes(raw)
        # Readers polling the directory must never see a half-written message.
        os.replace(temp, self.directory / name)
        return "250 OK"


class MailSink:
    """An SMTP server on host:port (own thread) that drops mail into ``directory``."""

    def __init__(self, directory: Path, port: int = 2526, host: str = "127.0.0.1") -> None:
        self.directory = Path(directory)
        self.port = port
        self.host = host
        self._controller: Controller | None = None

    def start(self) -> None:
        """Start listening; no-op if already started."""
        if self._controller is not None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        controller = Controller(
            _EmlWriter(self.directory),
            hostname=self.host,
            port=self.port,
            ready_timeout=10,
            enable_SMTPUTF8=True,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Stop listening; no-op if not started."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self) -> list[Path]:
        """Return the stored .eml files, oldest first."""
        return sorted(
            self.directory.glob("*.eml"),
            key=lambda path: tuple(int(part) for part in path.stem.split("-")),
        )


class _CountingSession(asyncio.Protocol):
    """One SMTP session of ``MailCounter``: the commands a sender needs (RFC 5321's EHLO or
    HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), answered in order, each line as it arrives (so
    pipelined commands, RFC 2920, which it advertises, are answered right)."""

    def __init__(self, counter: MailCounter) -> None:
        self.counter = counter
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.greeted = False
        self.sender = False
        self.recipients = 0
        self.in_data = False
        self.size = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._say(b"220 %s ESMTP helpline mail counter" % self.counter.host.encode())

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            if self.in_data:
                # The message ends at a line holding one dot (the CRLF before it is its own).
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    kept = max(0, len(self.buffer) - 4)  # a marker split across reads stays whole
                    self.size += kept
                    del self.buffer[:kept]
                    return
                self.size += end + 2
                del self.buffer[: end + 5]
                self.in_data, self.sender, self.recipients = False, False, 0
                self.counter._accepted(self.size)
                self._say(b"250 OK")
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                if len(self.buffer) > 4096:
                    self._say(b"500 Line too long", close=True)
                return
            line = bytes(self.buffer[:end])
            del self.buffer[: end + 2]
            self._command(line)

    def _command(self, line: bytes) -> None:
        verb = line[:4].upper()
        if verb == b"EHLO":
            self.greeted, self.sender, self.recipients = True, False, 0
            self._say(
                b"250-%s\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-PIPELINING\r\n250 HELP"
                % self.counter.host.encode()
            )
        elif verb == b"HELO":
            self.greeted, self.sender, self.recipients = True, False, 0
            self._say(b"250 %s" % self.counter.host.encode())
        elif verb == b"MAIL":
            if not self.greeted:
                self._say(b"503 Error: send HELO first")
            elif self.sender:
                self._say(b"503 Error: nested MAIL command")
            elif not line[4:].upper().lstrip().startswith(b"FROM:"):
                self._say(b"501 Syntax: MAIL FROM: <address>")
            else:
                self.sender = True
                self._say(b"250 OK")
        elif verb == b"RCPT":
            if not self.sender:
                self._say(b"503 Error: need MAIL command")
            elif not line[4:].upper().lstrip().startswith(b"TO:"):
                self._say(b"501 Syntax: RCPT TO: <address>")
            else:
                self.recipients += 1
                self._say(b"250 OK")
        elif verb == b"DATA":
            if not self.recipients:
                self._say(b"503 Error: need RCPT command")
            else:
                # What follows may begin with the end marker's dot line: a CRLF before it (not
                # the message's) lets one search find the marker.
                self.in_data, self.size = True, -2
                self.buffer[:0] = b"\r\n"
                self._say(b"354 End data with <CR><LF>.<CR><LF>")
        elif verb == b"RSET":
            self.sender, self.recipients = False, 0
            self._say(b"250 OK")
        elif verb == b"NOOP":
            self._say(b"250 OK")
        elif verb == b"QUIT":
            self._say(b"221 Bye", close=True)
        else:
            self._say(b"500 Error: command not recognized")

    def _say(self, answer: bytes, close: bool = False) -> None:
        if self.transport is None:
            return
        self.transport.write(answer + b"\r\n")
        if close:
            self.transport.close()
            self.transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None  # a message cut off mid-DATA is not accepted


class MailCounter:
    """An SMTP server on host:port (one asyncio loop in its own thread) that accepts every
    well-formed message and only counts it: the pipeline benchmark's sink, where parsing each
    envelope address and writing each message to a file cost more CPU than the mail itself.

    It speaks the same SMTP as ``MailSink`` (no STARTTLS, no AUTH); readers that need the
    messages themselves use ``MailSink``.

    Kept hand-written because aiosmtpd costs several times its CPU even when its handler only
    counts (no parsing, no file): each server alone in a child process, 5,000 and 10,000 mails
    of 1.9 kB over four reused aiosmtplib sessions, the child's utime+stime from /proc, two runs
    each (December 2026): this class 72-154 us per mail, an aiosmtpd ``Controller`` whose
    ``handle_DATA`` only counts 350-378 us per mail (2.4-5x).
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self.accepted = 0
        """Messages accepted so far."""
        self.accepted_bytes = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    def _accepted(self, size: int) -> None:
        with self._lock:
            self.accepted += 1
            self.accepted_bytes += size

    def start(self) -> None:
        """Start listening; no-op if already started."""
        if self._loop is not None:
            return
        loop = asyncio.new_event_loop()
        self._server = loop.run_until_complete(
            loop.create_server(lambda: _CountingSession(self), self.host, self.port, backlog=128)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening; no-op if not started."""
        loop, server, thread = self._loop, self._server, self._thread
        if loop is None or server is None or thread is None:
            return
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        self._loop = self._server = self._thread = None


def main(argv: list[str] | None = None) -> int:
    """Run a MailSink until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m helpline_devstack.mailsink")
    parser.add_argument("--dir", type=Path, required=True, help="where .eml files go")
    parser.add_argument("--port", type=int, default=2526)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    # Block before the server thread exists so it inherits the mask and sigwait gets them.
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    sink = MailSink(args.dir, port=args.port, host=args.host)
    sink.start()
    print(f"mailsink on {args.host}:{args.port} writing to {args.dir}", flush=True)
    try:
        signal.sigwait(stop_signals)
    finally:
        sink.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

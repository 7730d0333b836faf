"""An SMTP sink that stores every received message as one .eml file."""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import sys
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class _EmlWriter:
    """aiosmtpd handler writing the raw DATA bytes of each message to ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

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

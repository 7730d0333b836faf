"""Intake's throughput: mail accepted over SMTP and tickets created over HTTP, each next to a
baseline served the same way in the same run.

- SMTP: intake's SMTP server (recipient check, raw mail stored durably, then parsed, threaded and
  turned into a ticket with its outbox row) against an aiosmtpd sink that only stores the bytes.
- HTTP: ``POST /v1/tickets`` (credential check, validation, requester lookup, ticket and outbox
  row in one transaction) against an endpoint that only answers 201. The credential is an API
  key of the stand-in identity this process runs (introspected, then cached by intake).

Each server runs in its own process on SQLite (the embedded default) with the outbox relay off, so
the figures are intake's own work, not Kafka's. Rounds alternate baseline and intake; medians.

Usage: ``python bench/intake.py [--mails 300] [--tickets 500] [--concurrency 8] [--rounds 3]``.
"""

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import aiosmtplib
import httpx
from common import median, write_result

from helpline_devstack._proc import free_port, port_open
from helpline_shared.runtime.testing import stand_in_identity

MAILBOX = "support@bench.test"
HERE = Path(__file__).resolve()


# -- servers (run as ``python bench/intake.py --serve KIND --port P --data DIR``) ---------------


async def _serve_smtp_sink(port: int, data: Path) -> None:
    from aiosmtpd.smtp import SMTP, Envelope, Session

    class Sink:
        count = 0

        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            Sink.count += 1
            path = data / f"{Sink.count}.eml"
            await asyncio.to_thread(path.write_bytes, envelope.original_content or b"")
            return "250 OK"

    loop = asyncio.get_running_loop()
    await loop.create_server(lambda: SMTP(Sink()), "127.0.0.1", port)
    await asyncio.Event().wait()


def _intake(data: Path) -> tuple[object, object]:
    from helpline_intake.bootstrap import MIGRATIONS, bootstrap
    from helpline_intake.config import IntakeSettings
    from helpline_shared.runtime.migrations import upgrade

    # The identity to trust comes from HELPLINE_IDENTITY_* (set by ``start``).
    settings = IntakeSettings(data_dir=data, smtp_server_enabled=False, log_level="WARNING")
    upgrade(MIGRATIONS, settings.resolved_database_url("intake"))
    return bootstrap(settings)


async def _serve_smtp_intake(port: int, data: Path) -> None:
    from helpline_intake.adapters.attachments import FileAttachmentStore
    from helpline_intake.adapters.domain_ownership import TrustedOwnership
    from helpline_intake.entrypoints.smtp import smtp_loop
    from helpline_intake.service_layer import domains, requesters
    from helpline_intake.service_layer.email_intake import MailProcessing
    from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork

    _app, runtime = await asyncio.to_thread(_intake, data)

    def unit_of_work() -> IntakeUnitOfWork:
        return runtime.unit_of_work(IntakeUnitOfWork)  # type: ignore[attr-defined, no-any-return]

    # Mailboxes live in verified domains; the benchmark's claim is simply believed.
    domain = await domains.add_domain("bench", MAILBOX.rsplit("@", 1)[1], unit_of_work())
    await domains.verify_domain("bench", domain.id, TrustedOwnership(), unit_of_work)
    await requesters.add_mailbox(
        requesters.AddMailbox(
            tenant_id="bench",
            address=MAILBOX,
            aliases=[],
            priority="normal",
            type="question",
            tags=[],
            imap=None,
        ),
        unit_of_work(),
    )
    processing = MailProcessing(unit_of_work, FileAttachmentStore(data / "attachments"))
    await smtp_loop(processing, host="127.0.0.1", port=port, max_size=25_000_000).run()


def _serve_http(kind: str, port: int, data: Path) -> None:
    import uvicorn

    if kind == "http-intake":
        app, _runtime = _intake(data)
    else:

        async def app(scope, receive, send):  # type: ignore[no-untyped-def]
            if scope["type"] != "http":
                return
            more = True
            while more:
                more = (await receive()).get("more_body", False)
            await send(
                {
                    "type": "http.response.start",
                    "status": 201,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"id":"x"}'})

    uvicorn.run(
        app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", access_log=False
    )


def serve(kind: str, port: int, data: Path) -> None:
    """Run one of the servers until killed."""
    if kind == "smtp-sink":
        asyncio.run(_serve_smtp_sink(port, data))
    elif kind == "smtp-intake":
        asyncio.run(_serve_smtp_intake(port, data))
    else:
        _serve_http(kind, port, data)


# -- clients --------------------------------------------------------------------------------


def start(kind: str, data: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start a server process and wait for its port."""
    port = free_port()
    data.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, str(HERE), "--serve", kind, "--port", str(port), "--data", str(data)],
        env={**os.environ, **stand_in_identity().environment()},
    )
    deadline = time.monotonic() + 60
    while not port_open("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{kind} server did not start")
        time.sleep(0.1)
    return process, port


def mails(count: int, round_number: int) -> list[bytes]:
    """Distinct small mails (each its own conversation)."""
    made = []
    for number in range(count):
        message = EmailMessage()
        message["From"] = f"customer{number}@customer.example"
        message["To"] = MAILBOX
        message["Subject"] = f"Request {round_number}-{number}"
        message["Message-ID"] = make_msgid(domain="customer.example")
        message.set_content("The printer is on fire again.\n" * 20)
        made.append(message.as_bytes())
    return made


async def send_mails(port: int, payloads: list[bytes], concurrency: int) -> float:
    """Mails per second accepted with 250, ``concurrency`` SMTP sessions in parallel."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for payload in payloads:
        queue.put_nowait(payload)

    async def session() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60)
        await client.connect()
        try:
            while not queue.empty():
                payload = queue.get_nowait()
                errors, _ = await client.sendmail("customer@customer.example", [MAILBOX], payload)
                assert not errors
        finally:
            await client.quit()

    started = time.perf_counter()
    await asyncio.gather(*[session() for _ in range(concurrency)])
    return len(payloads) / (time.perf_counter() - started)


async def create_tickets(port: int, count: int, concurrency: int) -> float:
    """Tickets per second created with 201."""
    token = stand_in_identity().api_key("bench")
    body = {
        "subject": "Export fails",
        "description": "since 4.2",
        "requester": {"email": "cy@customer.example"},
        "priority": "high",
    }
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        timeout=60,
        headers={"authorization": f"Bearer {token}"},
    ) as client:
        semaphore = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with semaphore:
                response = await client.post("/v1/tickets", json=body)
                assert response.status_code == 201, response.text

        started = time.perf_counter()
        await asyncio.gather(*[one() for _ in range(count)])
        return count / (time.perf_counter() - started)


def measure(kinds: tuple[str, str], rounds: int, run: "object") -> dict[str, list[float]]:
    """Alternate baseline and intake servers for ``rounds``; rates per kind."""
    rates: dict[str, list[float]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory() as directory:
        servers = {kind: start(kind, Path(directory) / kind) for kind in kinds}
        try:
            for round_number in range(rounds):
                for kind in kinds:
                    rates[kind].append(asyncio.run(run(servers[kind][1], round_number)))  # type: ignore[operator]
        finally:
            for process, _port in servers.values():
                process.kill()
                process.wait()
    return rates


def main() -> None:
    """Measure both figures and write their results."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve")
    parser.add_argument("--port", type=int)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--mails", type=int, default=300)
    parser.add_argument("--tickets", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    if arguments.serve:
        serve(arguments.serve, arguments.port, arguments.data)
        return

    smtp = measure(
        ("smtp-sink", "smtp-intake"),
        arguments.rounds,
        lambda port, number: send_mails(
            port, mails(arguments.mails, number), arguments.concurrency
        ),
    )
    value, baseline = median(smtp["smtp-intake"]), median(smtp["smtp-sink"])
    write_result(
        "intake_smtp",
        metric="mails accepted per second over SMTP",
        value=value,
        unit="mails/s",
        baseline_value=baseline,
        baseline="aiosmtpd sink that only stores the bytes",
        target=">= 50 mails/s",
        passed=value >= 50,
        packages=("aiosmtpd", "aiosmtplib", "SQLAlchemy", "aiosqlite"),
        extra={
            "rounds": smtp,
            "mails_per_round": arguments.mails,
            "concurrency": arguments.concurrency,
        },
    )

    http = measure(
        ("http-baseline", "http-intake"),
        arguments.rounds,
        lambda port, _number: create_tickets(port, arguments.tickets, arguments.concurrency),
    )
    value, baseline = median(http["http-intake"]), median(http["http-baseline"])
    write_result(
        "intake_http",
        metric="tickets created per second over HTTP",
        value=value,
        unit="tickets/s",
        baseline_value=baseline,
        baseline="ASGI endpoint under uvicorn that only answers 201",
        target=">= 100 tickets/s",
        passed=value >= 100,
        packages=("fastapi", "uvicorn", "SQLAlchemy", "aiosqlite"),
        extra={
            "rounds": http,
            "tickets_per_round": arguments.tickets,
            "concurrency": arguments.concurrency,
        },
    )


if __name__ == "__main__":
    main()

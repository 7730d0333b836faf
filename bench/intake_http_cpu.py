"""CPU time intake spends per ``POST /v1/tickets``, in process, on SQLite, without a client.

The app is called as uvicorn calls it (an ASGI scope, a ``receive`` handing the body, a ``send``
collecting the answer), so what is timed is intake alone: the edge, FastAPI, the credential
check, validation, the transaction and the response, not an HTTP client. The credential is an
API key of a stand-in identity (introspected once, then cached), as in the pipeline benchmark;
the relay is off (no broker). The CPU counted is the event loop's thread's (``thread_time``):
not the stand-in identity's, which runs on threads of this process. The key's introspection
and the revocation list are refetched every ``key_ttl`` and ``revocations_ttl`` (2 s, 1 s): per
second, not per request, they are left out of the timed requests by lengthening both.
``--profile FILE`` writes a cProfile of the timed requests.

``--served``: intake as the pipeline runs it instead, in this process's main thread: served by
uvicorn on a socket (httptools, uvloop), POSTed to by the pipeline's load generator (pipelined
HTTP/1.1 on 8 connections, a process of its own), its relay publishing to a real broker
(``BENCH_KAFKA_PORT``, 27092) and its consumer applying what a stand-in of routing, escalation and
notify (a thread) answers each ``ticket.created`` with: classified, assigned, the SLA clock
started, and the deliveries of two mails and a webhook. A burst of ``--tickets`` is timed from
its first POST until every answer is applied and every outbox row sent: the CPU of the main
thread (all of intake's: SQLite runs in it) per ticket, and the statements per ticket.
``--no-relay`` (nothing published, so nothing answered) leaves the HTTP path alone;
``--profile FILE`` writes a cProfile of the main thread during the burst.

Run: ``.venv/bin/python bench/intake_http_cpu.py [--tickets 2000] [--concurrency 8]``
or ``.venv/bin/python bench/intake_http_cpu.py --served [--tickets 1000] [--no-relay]``
"""

import argparse
import asyncio
import cProfile
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from helpline_intake.adapters.attachments import MemoryAttachmentStore
from helpline_intake.bootstrap import MIGRATIONS, bootstrap
from helpline_intake.config import IntakeSettings
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.testing import stand_in_identity

HOME = Path(__file__).resolve().parent.parent / ".helpline" / "bench"
ANSWERS_APPLIED = 5
"""Of what the stand-in answers per ticket, what intake applies (the webhook's delivery has no
Message-ID to remember: acknowledged without an inbox row)."""


class Caller:
    """Calls an ASGI app the way uvicorn does, one request at a time per task."""

    def __init__(self, app: Any, key: str) -> None:
        self.app = app
        self.key = key.encode()

    async def post(self, path: str, document: dict[str, Any]) -> tuple[int, bytes]:
        """POST ``document`` as JSON to ``path``; the status and body answered."""
        body = json.dumps(document).encode()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [
                (b"host", b"127.0.0.1:8080"),
                (b"authorization", b"Bearer " + self.key),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8080),
            "state": {},
        }
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()  # as uvicorn: nothing more until the client leaves
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


def ticket(n: int) -> dict[str, Any]:
    """The pipeline's ticket: a new requester each time."""
    return {
        "subject": "Export fails",
        "description": "bench",
        "tags": ["bench"],
        "requester": {"email": f"customer{n}@bench.example"},
        "priority": "normal",
    }


async def run(tickets: int, concurrency: int, profile: Path | None) -> None:
    identity = stand_in_identity()
    with tempfile.TemporaryDirectory() as directory:
        settings = IntakeSettings(
            data_dir=Path(directory),
            **identity.settings(),
            smtp_server_enabled=False,
            relay_enabled=False,
            domain_verification="trust",
        )
        await asyncio.to_thread(upgrade, MIGRATIONS, settings.resolved_database_url("intake"))
        app, runtime = bootstrap(settings, MemoryAttachmentStore())
        runtime.verifier.key_ttl = runtime.verifier.revocations_ttl = 3600.0
        caller = Caller(app, identity.api_key("bench", ["admin"]))
        numbers = iter(range(10**9))

        async def worker(count: int) -> None:
            for _ in range(count):
                status, answer = await caller.post("/v1/tickets", ticket(next(numbers)))
                assert status == 201, answer

        await worker(50)  # warm: the key introspected, statements compiled
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        wall, cpu = time.perf_counter(), time.thread_time()
        await asyncio.gather(*(worker(tickets // concurrency) for _ in range(concurrency)))
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        if profiler and profile:
            profiler.disable()
            profiler.dump_stats(profile)
        done = tickets // concurrency * concurrency
        print(
            f"POST /v1/tickets x{done}, {concurrency} at a time: "
            f"{cpu / done * 1000:.3f} ms CPU of the event loop's thread per request "
            f"({wall / done * 1000:.3f} ms wall)"
        )
        await runtime.engine.dispose()


def answers(tenant_id: str, ticket_id: str) -> list[Any]:
    """What routing, escalation and notify publish of one ticket that intake consumes, as in
    the pipeline: of ``intake_statements.followed``, the first clock only, and the assignment's
    mail besides the acknowledgement and the webhook."""
    from intake_statements import followed

    from helpline_shared.events import TicketAssigned

    classified, assigned, started, _resolution, acknowledged, webhook, _stopped = followed(
        ticket_id, tenant_id
    )
    assignment_mail = acknowledged.model_copy(
        update={
            "notification_id": uuid.uuid4().hex,
            "trigger_event_type": TicketAssigned.event_type,
            "outbound_message_id": f"<{uuid.uuid4().hex}@bench.example>",
        }
    )
    return [classified, assigned, started, acknowledged, assignment_mail, webhook]


async def stand_in(servers: str, prefix: str, stop: threading.Event) -> None:
    """Answer each ``ticket.created`` on the tickets topic with ``answers`` (its own loop)."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from helpline_shared import topics
    from helpline_shared.envelope import from_record, to_record
    from helpline_shared.events import TicketCreated

    consumer = AIOKafkaConsumer(
        prefix + topics.TICKETS,
        bootstrap_servers=servers,
        group_id=prefix + "stand-in",
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=2)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            sent = []
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    if dict(record.headers).get("ce_type") != TicketCreated.event_type.encode():
                        continue
                    event = from_record(record.headers, record.value).event
                    for answer in answers(event.tenant_id, event.ticket_id):
                        out = to_record(answer, source="/bench/stand-in")
                        sent.append(
                            await producer.send(
                                prefix + out.topic,
                                value=out.value,
                                key=out.key,
                                headers=list(out.headers),
                            )
                        )
            await asyncio.gather(*sent)
    finally:
        await consumer.stop()
        await producer.stop()


def served(tickets: int, relay: bool, profile: Path | None = None) -> None:
    """The ``--served`` measurement (see the module's documentation)."""
    import uvicorn
    from pipeline import LoadGenerator
    from sqlalchemy import event as sa_event

    from helpline_devstack._proc import free_port
    from helpline_devstack.kafka import KafkaNode
    from helpline_devstack.testing import unique_name
    from helpline_shared.runtime.service import server_config
    from helpline_shared.topics import PARTITIONS, all_topics

    port = int(os.environ.get("BENCH_KAFKA_PORT", "27092"))
    kafka = KafkaNode(HOME / "kafka", port=port, controller_port=port + 1)
    kafka.start()
    prefix = unique_name("intake-cpu") + "."
    kafka.create_topics([prefix + topic for topic in all_topics()], PARTITIONS)
    identity = stand_in_identity()
    directory = Path(tempfile.mkdtemp(prefix="intake-cpu-", dir=HOME))
    settings = IntakeSettings(
        data_dir=directory,
        **identity.settings(),
        kafka_bootstrap_servers=kafka.bootstrap_servers,
        topic_prefix=prefix,
        smtp_server_enabled=False,
        relay_enabled=relay,
        domain_verification="trust",
    )
    upgrade(MIGRATIONS, settings.resolved_database_url("intake"))
    app, runtime = bootstrap(settings, MemoryAttachmentStore())
    statements: Counter[str] = Counter()
    engine = runtime.engine.sync_engine
    sa_event.listen(
        engine,
        "before_cursor_execute",
        lambda *args: statements.update([str(args[2]).split()[0].upper()]),
    )
    sa_event.listen(engine, "commit", lambda _connection: statements.update(["COMMIT"]))
    loops: list[asyncio.AbstractEventLoop] = []
    # Timed by the thread's CPU clock: the loop's waits in epoll are not the service's cost.
    profiler = cProfile.Profile(time.thread_time) if profile else None

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[Any] | None = None) -> None:
            loops.append(asyncio.get_running_loop())  # where the profiler is switched on
            await super().startup(sockets)

    server = Server(server_config(app, settings, free_port()))
    clock = time.pthread_getcpuclockid(threading.get_ident())
    applied_per_ticket = ANSWERS_APPLIED if relay else 0
    report: list[str] = []

    def done(total: int) -> bool:
        with sqlite3.connect(f"file:{directory / 'intake.db'}?mode=ro", uri=True) as database:
            (opened,) = database.execute("SELECT count(*) FROM tickets").fetchone()
            (applied,) = database.execute("SELECT count(*) FROM processed_events").fetchone()
            (unsent,) = database.execute(
                "SELECT count(*) FROM outbox WHERE sent_at IS NULL"
            ).fetchone()
        return (
            opened >= total and applied >= applied_per_ticket * total and (unsent == 0 or not relay)
        )

    def wait_until_done(total: int) -> None:
        deadline = time.monotonic() + 300
        while not done(total):
            if time.monotonic() > deadline:
                raise RuntimeError("the burst did not finish in 300 s")
            time.sleep(0.05)

    def control() -> None:
        stop = threading.Event()
        answering = threading.Thread(
            target=lambda: asyncio.run(stand_in(kafka.bootstrap_servers, prefix, stop))
        )
        load = None
        try:
            while not server.started:
                time.sleep(0.05)
            if relay:
                answering.start()
            url = f"http://127.0.0.1:{server.config.port}"
            load = LoadGenerator(url, identity.api_key("bench", ["admin"]))
            total = len(load.post(None, 0, 300)["created"])  # warm: caches, statements, JIT
            wait_until_done(total)
            time.sleep(1)
            statements.clear()
            if profiler is not None:  # cProfile follows the thread it is enabled in
                asyncio.run_coroutine_threadsafe(_call(profiler.enable), loops[0]).result()
            before = time.clock_gettime(clock)
            answer = load.post(None, 0, tickets)
            created = len(answer["created"])
            wait_until_done(total + created)
            cpu = time.clock_gettime(clock) - before
            if profiler is not None and profile is not None:
                asyncio.run_coroutine_threadsafe(_call(profiler.disable), loops[0]).result()
                profiler.dump_stats(profile)
            per_ticket = ", ".join(
                f"{kind} {count / created:.2f}" for kind, count in sorted(statements.items())
            )
            report.append(
                f"intake served, burst of {created} tickets ({dict(answer['failed']) or 'none'}"
                f" failed), {'with its relay and the answers consumed' if relay else 'no relay'}:"
                f" {cpu / created * 1000:.3f} ms CPU of the main thread per ticket;"
                f" statements per ticket: {per_ticket}"
            )
        finally:
            if load is not None:
                load.stop()
            stop.set()
            if answering.is_alive():
                answering.join(10)
            server.should_exit = True

    controller = threading.Thread(target=control)
    controller.start()
    try:
        server.run()
        controller.join()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print("\n".join(report) or "the measurement failed (see above)")


async def _call(function: Any) -> None:
    function()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument("--served", action="store_true", help="as the pipeline serves intake")
    parser.add_argument("--no-relay", action="store_true", help="with --served: HTTP alone")
    options = parser.parse_args()
    logging.disable(logging.INFO)
    if options.served:
        HOME.mkdir(parents=True, exist_ok=True)
        served(options.tickets or 1000, relay=not options.no_relay, profile=options.profile)
        return
    import uvloop

    uvloop.run(run(options.tickets or 2000, options.concurrency, options.profile))


if __name__ == "__main__":
    main()

"""SQL statements notify executes per ticket: consuming its events, then delivering what they queue.

Run: .venv/bin/python bench/notify_statements.py [tickets]  (no broker, a temp SQLite file)

One ticket's typical events (created, classified, assigned, clock started, an agent's public reply,
the requester's answer, solved, clock stopped) with one webhook endpoint subscribed to everything;
the delivery worker then sends all that is due on in-memory mail and webhook fakes.

Then the pipeline benchmark's shape: the five events notify consumes per ticket there (created,
status changed, classified, assigned, clock started), an endpoint on ``ticket.assigned`` only,
20 agents, and each record in a transaction of its own (a burst's fetches hold about one record
per partition); the delivery worker sends what each record queued at once, as its hand-off does.

Then a burst's shape: the same events fetched three records at a time while the delivery worker
runs, its sends taking time (mail 4 ms, a webhook 2 ms, on in-memory fakes), so the outcomes of
sends settling close together share a write as they do under load.

With ``--cpu``, instead: the burst's shape on the real wire, a local SMTP server (aiosmtpd,
made to advertise PIPELINING, as real servers do) and a local webhook receiver, each on a
thread of its own; it reports the event loop thread's CPU (``thread_time``: notify alone, not
the servers) per ticket from the first record consumed to the last delivery recorded, and the
statements.
``--profile FILE`` writes a cProfile of that run.
"""

import asyncio
import cProfile
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from opentelemetry.trace import NoOpTracer
from statements import BATCH, Statements, migrated, through_table

from helpline_notify.adapters.fakes import FakeMailer, FakeWebhookSender
from helpline_notify.adapters.orm import metadata
from helpline_notify.adapters.rendering import JinjaRenderer
from helpline_notify.bootstrap import MIGRATIONS
from helpline_notify.service_layer import endpoints, handlers
from helpline_notify.service_layer.emails import EmailComposer
from helpline_notify.service_layer.ports import Mailer, WebhookSender
from helpline_notify.service_layer.unit_of_work import NotifyUnitOfWork
from helpline_notify.service_layer.worker import DeliveryWorker, WorkerOptions
from helpline_shared.envelope import new_event_id, to_record
from helpline_shared.events import (
    Actor,
    MessageAdded,
    Requester,
    SlaClockStarted,
    SlaClockStopped,
    TicketAssigned,
    TicketClassified,
    TicketCreated,
    TicketStatusChanged,
)
from helpline_shared.runtime.consumer import DeadLetters, TableConsumer
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import FakeKafkaConsumer, RecordingProducer, raw_record

TENANT = "acme"


def lifecycle(ticket_id: str) -> list[Any]:
    """One ticket's events as notify consumes them."""
    now = utcnow()
    common: dict[str, Any] = {"tenant_id": TENANT, "ticket_id": ticket_id, "occurred_at": now}
    clock: dict[str, Any] = {
        **common,
        "metric": "first_response",
        "clock_version": 1,
        "reason": "r",
        "deadline": now + timedelta(hours=1),
    }
    return [
        TicketCreated(
            **common,
            subject="Printer",
            description="D",
            priority="high",
            requester=Requester(email=f"r-{ticket_id}@example.com"),
            type="question",
            channel="api",
        ),
        TicketClassified(**common, priority="high", team="printers", rule_id="r-1", rule_version=1),
        TicketAssigned(
            **common,
            agent_id="agent-ann",
            agent_name="Ann",
            agent_email="ann@example.com",
            channel="api",
            required_skills=(),
            candidates_considered=3,
            reason="best",
        ),
        SlaClockStarted(**clock, started_at=now, target_seconds=3600),
        MessageAdded(
            **common,
            message_id=new_event_id(),
            author_role="agent",
            public=True,
            channel="api",
            body="Hello",
            actor=Actor(type="user", id="agent-ann"),
        ),
        MessageAdded(
            **common,
            message_id=new_event_id(),
            author_role="requester",
            public=True,
            channel="email",
            body="Thanks",
        ),
        TicketStatusChanged(**common, previous_status="open", status="solved"),
        SlaClockStopped(**clock, stopped_at=now, breached=False),
    ]


def pipeline_events(number: int, ticket_id: str) -> list[tuple[str, Any]]:
    """The events notify consumes per ticket in the pipeline benchmark, with their topics."""
    now = utcnow()
    common: dict[str, Any] = {"tenant_id": TENANT, "ticket_id": ticket_id, "occurred_at": now}
    agent = number % 20
    return [
        (
            "helpline.tickets",
            TicketCreated(
                **common,
                subject="Export fails",
                description="bench",
                priority="normal",
                requester=Requester(email=f"customer{number}@bench.example"),
                type="question",
                channel="api",
            ),
        ),
        ("helpline.tickets", TicketStatusChanged(**common, previous_status="new", status="open")),
        (
            "helpline.routing",
            TicketClassified(**common, priority="normal", team="t", rule_id="r", rule_version=1),
        ),
        (
            "helpline.routing",
            TicketAssigned(
                **common,
                agent_id=f"agent-{agent}",
                agent_name=f"agent {agent}",
                agent_email=f"a{agent}@b.example",
                channel="api",
                required_skills=("bench",),
                candidates_considered=20,
                reason="best",
            ),
        ),
        (
            "helpline.sla",
            SlaClockStarted(
                **common,
                metric="first_response",
                clock_version=1,
                reason="r",
                deadline=now + timedelta(hours=1),
                started_at=now,
                target_seconds=3600,
            ),
        ),
    ]


async def main(tickets: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        await count(tickets, Path(directory) / "notify.db")
        await count_pipeline_shape(tickets, Path(directory) / "pipeline.db")
        await count_burst_shape(tickets, Path(directory) / "burst.db")


class _SlowMailer(FakeMailer):
    async def send(self, email: Any) -> None:
        await asyncio.sleep(0.004)
        await super().send(email)


class _SlowWebhooks(FakeWebhookSender):
    async def send(self, request: Any) -> Any:
        await asyncio.sleep(0.002)
        return await super().send(request)


class _Rig:
    """A fresh notify database with one webhook endpoint, its statements counted, and a
    delivery worker on in-memory mail and webhook fakes (a day ahead: all queued is due)."""

    def __init__(
        self,
        mailer: FakeMailer | None = None,
        wire: tuple[Mailer, WebhookSender] | None = None,
    ) -> None:
        self.mailer = mailer or FakeMailer()
        self.webhooks = FakeWebhookSender() if mailer is None else _SlowWebhooks()
        self.wire = wire
        self.counted = 0
        """Mails and webhooks sent on the real wire (``wire``)."""

    async def start(
        self, path: Path, event_types: tuple[str, ...], url: str = "https://hooks.example.com/in"
    ) -> None:
        self.engine, self.unit_of_work = await migrated(
            path, MIGRATIONS, metadata, NotifyUnitOfWork
        )
        await endpoints.register_webhook_endpoint(
            endpoints.RegisterWebhookEndpoint(
                tenant_id=TENANT,
                url=url,
                event_types=event_types,
                allow_private_networks=self.wire is not None,
            ),
            self.unit_of_work(),
        )
        self.statements = Statements(self.engine)
        mailer, webhooks = self.wire or (self.mailer, self.webhooks)
        self.worker = DeliveryWorker(
            self.unit_of_work,
            _Counted(mailer, self),
            _Counted(webhooks, self),
            NoOpTracer(),
            WorkerOptions(email_domain="mail.acme.example"),
            renderer=JinjaRenderer(),
            clock=lambda: utcnow() + timedelta(1),
        )

    def handing_consumer(self) -> TableConsumer[NotifyUnitOfWork]:
        """Notify's consumer, its commits handing their deliveries to the running worker and
        waking it for the rest, as bootstrap wires them."""

        def waking() -> NotifyUnitOfWork:
            uow = self.unit_of_work()
            uow.wake_worker = self.worker.wake
            uow.hand_off = self.worker
            return uow

        return _consumer(self.unit_of_work, waking)

    @property
    def sent(self) -> int:
        """Mails and webhooks sent so far."""
        return self.counted


class _Counted:
    """A mailer or webhook sender counting what it sent."""

    def __init__(self, sender: Any, rig: _Rig) -> None:
        self._sender = sender
        self._rig = rig

    async def send(self, item: Any) -> Any:
        answer = await self._sender.send(item)
        self._rig.counted += 1
        return answer


async def count_pipeline_shape(tickets: int, path: Path) -> None:
    rig = _Rig()
    await rig.start(path, ("helpline.ticket.assigned.v1",))
    unit_of_work, statements, worker = rig.unit_of_work, rig.statements, rig.worker
    woken: list[bool] = []

    def waking() -> NotifyUnitOfWork:
        uow = unit_of_work()
        uow.wake_worker = lambda: woken.append(True)
        uow.hand_off = worker
        return uow

    consumer = _consumer(unit_of_work, waking)
    consumed: list[str] = []
    offset = 0
    for number in range(tickets):
        for raw in _pipeline_records(number, offset):
            mark = len(statements.kinds)
            await consumer.consume([raw], FakeKafkaConsumer())
            consumed += statements.kinds[mark:]
            offset += 1
            # Each commit hands the deliveries it queued (and leased) to the worker, which sends
            # them at once; it is woken to claim only what it had no room for.
            await worker.drain()
            if woken:
                woken.clear()
                await worker.deliver_due()
    await rig.engine.dispose()
    print(
        f"pipeline shape, one record per transaction: {tickets} tickets, {offset} events, "
        f"{rig.sent} deliveries sent as soon as queued"
    )
    statements.report("  consuming", tickets, "tickets", consumed)
    statements.report("  together", tickets, "tickets")


def _consumer(
    unit_of_work: Callable[[], NotifyUnitOfWork], waking: Callable[[], NotifyUnitOfWork]
) -> TableConsumer[NotifyUnitOfWork]:
    """Notify's handler table under the runtime's consumer, its commits handing off to the
    worker (``waking``)."""
    return TableConsumer(
        table=handlers.handler_table(
            handlers.EmailPolicy(escalation_email="escalations@example.com"),
            EmailComposer(JinjaRenderer()),
            unit_of_work,
        ),
        unit_of_work=waking,
        dead_letters=DeadLetters(RecordingProducer(), "bench"),
        tracer=NoOpTracer(),
        group="bench",
    )


def _pipeline_records(number: int, offset: int) -> list[Any]:
    """Ticket ``number``'s pipeline events as Kafka records, from ``offset`` on."""
    records = []
    for topic, event in pipeline_events(number, str(uuid.uuid4())):
        record = to_record(event, source="/bench")
        records.append(
            raw_record(record.headers, record.value, offset=offset, key=record.key, topic=topic)
        )
        offset += 1
    return records


async def count_burst_shape(tickets: int, path: Path) -> None:
    rig = _Rig(_SlowMailer())
    await rig.start(path, ("helpline.ticket.assigned.v1",))
    worker = rig.worker
    consumer = rig.handing_consumer()
    records = [r for n in range(tickets) for r in _pipeline_records(n, n * 5)]
    running = asyncio.create_task(worker.run())
    rig.statements.reset()
    for start in range(0, len(records), 3):
        await consumer.consume(records[start : start + 3], FakeKafkaConsumer())
        await asyncio.sleep(0.001)  # the next fetch
    while rig.sent < 3 * tickets:  # the sends under way, and those claimed after them
        await worker.drain()
        await asyncio.sleep(0.01)
    await worker.stop()
    await running
    await rig.engine.dispose()
    print(f"burst shape, three records per fetch, sends taking time: {tickets} tickets")
    rig.statements.report("  together", tickets, "tickets")


class _WebhookReceiver(asyncio.Protocol):
    """Answers each POST 204 on a keep-alive connection (the harness's receiver, minimal)."""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head, found, rest = self.buffer.partition(b"\r\n\r\n")
            if not found:
                return
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(rest) < length:
                return
            self.buffer = rest[length:]
            self.transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")


def _serving_thread(start: Callable[[asyncio.AbstractEventLoop], Any]) -> tuple[Any, Any]:
    """Run ``start`` on an event loop of a thread of its own; what it returned, and the loop."""
    loop = asyncio.new_event_loop()
    ready: list[Any] = []
    done = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        ready.append(loop.run_until_complete(start(loop)))
        done.set()
        loop.run_forever()

    threading.Thread(target=serve, daemon=True).start()
    done.wait()
    return ready[0], loop


ALONE = 200
"""Tickets of ``cpu_burst``'s phase of one record per transaction."""


async def cpu_burst(tickets: int, profile: str | None) -> None:
    """The burst's shape on the real wire; the loop thread's CPU per ticket."""
    from aiosmtpd.controller import Controller

    from helpline_devstack.mailsink import advertise_pipelining
    from helpline_notify.adapters.smtp import SmtpMailer
    from helpline_notify.adapters.webhook_http import WebhookHttp
    from helpline_notify.adapters.webhooks import GuardedWebhookSender

    class Sink:
        async def handle_EHLO(
            self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
        ) -> list[str]:
            session.host_name = hostname
            return advertise_pipelining(responses)

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    with socket.socket() as probe:  # a free port (aiosmtpd's controller takes no port 0)
        probe.bind(("127.0.0.1", 0))
        smtp_port = probe.getsockname()[1]
    smtp = Controller(Sink(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    server, _loop = _serving_thread(
        lambda loop: loop.create_server(_WebhookReceiver, "127.0.0.1", 0)
    )
    hook_port = server.sockets[0].getsockname()[1]
    mailer = SmtpMailer("127.0.0.1", smtp_port, "Helpline <n@helpline.test>", max_sessions=16)
    http = WebhookHttp(allow_private_networks=True, timeout=15.0)
    rig = _Rig(wire=(mailer, GuardedWebhookSender(http)))
    with tempfile.TemporaryDirectory() as directory:
        await rig.start(
            Path(directory) / "cpu.db",
            ("helpline.ticket.assigned.v1",),
            url=f"http://127.0.0.1:{hook_port}/in",
        )
        worker = rig.worker
        consumer = rig.handing_consumer()
        # A warm-up (connections, statements compiled), then the measured burst.
        warm = 50
        records = [r for n in range(warm) for r in _pipeline_records(n, n * 5)]
        running = asyncio.create_task(worker.run())
        await _burst(rig, consumer, records, warm)
        # One record per transaction, each one's deliveries sent and recorded before the next:
        # the same transactions and statements every run (a loaded machine changes the burst's
        # batching, and with it the figure).
        rig.statements.reset()
        started = time.thread_time()
        for number in range(warm, warm + ALONE):
            for raw in _pipeline_records(number, number * 5):
                await consumer.consume([raw], FakeKafkaConsumer())
                await worker.drain()
            while rig.sent < 3 * (number + 1):  # any the worker claimed instead
                await worker.drain()
                await asyncio.sleep(0.001)
        alone = (time.thread_time() - started) * 1000 / ALONE
        rig.statements.report(
            f"one record per transaction on the wire: CPU {alone:.3f} ms per ticket;",
            ALONE,
            "tickets",
        )
        records = [
            r
            for n in range(warm + ALONE, warm + ALONE + tickets)
            for r in _pipeline_records(n, n * 5)
        ]
        rig.statements.reset()
        profiler = cProfile.Profile(time.thread_time) if profile else None
        started = time.thread_time()
        if profiler:
            profiler.enable()
        await _burst(rig, consumer, records, warm + ALONE + tickets)
        if profiler and profile:
            profiler.disable()
            profiler.dump_stats(profile)
        spent = time.thread_time() - started
        await worker.stop()
        await running
        await mailer.aclose()
        await http.aclose()
        await rig.engine.dispose()
    smtp.stop()
    print(
        f"burst shape on the wire (SMTP, HTTP), three records per fetch: {tickets} tickets, "
        f"{rig.sent - 3 * (warm + ALONE)} deliveries; CPU of the loop thread "
        f"{spent * 1000 / tickets:.3f} ms per ticket"
    )
    rig.statements.report("  together", tickets, "tickets")


async def _burst(rig: _Rig, consumer: Any, records: list[Any], tickets: int) -> None:
    """Consume ``records`` three per fetch while the worker runs, until all of the first
    ``tickets`` tickets' deliveries are sent."""
    for start in range(0, len(records), 3):
        await consumer.consume(records[start : start + 3], FakeKafkaConsumer())
        await asyncio.sleep(0.001)  # the next fetch
    while rig.sent < 3 * tickets:
        await rig.worker.drain()
        await asyncio.sleep(0.005)
    await rig.worker.drain()


async def count(tickets: int, path: Path) -> None:
    rig = _Rig()
    await rig.start(path, ("*",))
    unit_of_work, statements = rig.unit_of_work, rig.statements
    events = [e for n in range(tickets) for e in lifecycle(str(uuid.uuid4()))]
    policy = handlers.EmailPolicy(
        escalation_email="escalations@example.com", email_domain="mail.acme.example"
    )
    await through_table(
        handlers.handler_table(policy, EmailComposer(JinjaRenderer())),
        unit_of_work,
        [to_record(e, source="/bench") for e in events],
    )
    consumed = len(statements.kinds)
    while await rig.worker.deliver_due():
        pass
    await rig.engine.dispose()
    print(
        f"handler table, batches of {BATCH}: {tickets} tickets, {len(events)} events, "
        f"{rig.sent} deliveries sent"
    )
    statements.report("  consuming", tickets, "tickets", statements.kinds[:consumed])
    statements.report("  delivering", tickets, "tickets", statements.kinds[consumed:])
    statements.report("  together", tickets, "tickets")


if __name__ == "__main__":
    numbers = [int(argument) for argument in sys.argv[1:2] if not argument.startswith("--")]
    if "--cpu" in sys.argv:
        target = sys.argv[sys.argv.index("--profile") + 1] if "--profile" in sys.argv else None
        asyncio.run(cpu_burst(numbers[0] if numbers else 1000, target))
    else:
        asyncio.run(main(numbers[0] if numbers else 50))

"""Notify's use cases and delivery worker on a real PostgreSQL database, with a hand-moved clock,
the real signed HTTP sender, and scripted webhook receivers on loopback ports."""

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NoReturn
from unittest import mock

from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_devstack.postgres import PostgresServer
from helpline_devstack.testing import unique_name
from helpline_notify.adapters.fakes import FakeMailer
from helpline_notify.adapters.orm import metadata
from helpline_notify.adapters.rendering import JinjaRenderer
from helpline_notify.bootstrap import MIGRATIONS, guarded_webhooks
from helpline_notify.domain.model import Delivery
from helpline_notify.service_layer import endpoints
from helpline_notify.service_layer.emails import EmailComposer
from helpline_notify.service_layer.handlers import EmailPolicy, on_event
from helpline_notify.service_layer.ports import Mailer
from helpline_notify.service_layer.unit_of_work import NotifyUnitOfWork
from helpline_notify.service_layer.worker import DeliveryWorker, WorkerOptions
from helpline_shared.envelope import Envelope, from_record
from helpline_shared.events import Event, Requester, TicketAssigned, TicketCreated
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table
from helpline_shared.runtime.migrations import upgrade

TENANT = "acme"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        """Move time forward."""
        self.now += delta


@dataclass
class Answer:
    """How a scripted receiver answers one request."""

    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    """One request a scripted receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    answered: int = 0


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        receiver: ScriptedReceiver = self.server.owner  # type: ignore[attr-defined]
        answer = receiver.record(
            Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time())
        )
        if answer.delay:
            receiver.stopping.wait(answer.delay)
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except OSError:
            return


class ScriptedReceiver:
    """A threaded HTTP receiver answering from a script (then ``default``), keeping requests."""

    def __init__(self, default: Answer | None = None) -> None:
        self.default = default or Answer()
        self.script: list[Answer] = []
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The receiver's base URL."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def record(self, request: Received) -> Answer:
        """Keep ``request`` and pick its answer."""
        with self.lock:
            answer = self.script.pop(0) if self.script else self.default
            request.answered = answer.status
            self.requests.append(request)
            return answer

    def received(self) -> list[Received]:
        """The requests so far."""
        with self.lock:
            return list(self.requests)

    def __enter__(self) -> "ScriptedReceiver":
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@contextlib.contextmanager
def recorded_connections() -> Iterator[list[tuple[object, ...]]]:
    """Every connection the running event loop is asked to open, recorded and refused: the
    webhook client connects through ``loop.create_connection``, so none opens."""
    attempts: list[tuple[object, ...]] = []

    async def refuse(_protocol: object, *where: object, **_options: object) -> NoReturn:
        attempts.append(where)
        raise ConnectionRefusedError("recorded: no connections")

    with mock.patch.object(asyncio.get_running_loop(), "create_connection", refuse):
        yield attempts


def new_ticket_id() -> str:
    """A fresh ticket id."""
    return str(uuid.uuid4())


def envelope_of(event: Event) -> Envelope:
    """The envelope a consumer would receive for ``event``."""
    return Envelope(
        id=str(uuid.uuid4()),
        source="/helpline/test",
        type=event.event_type,
        time=event.occurred_at,
        subject=event.ticket_id,
        event=event,
    )


def ticket_created(ticket_id: str, requester: str = "carol@example.com") -> TicketCreated:
    """A new ticket about a printer."""
    return TicketCreated(
        tenant_id=TENANT,
        ticket_id=ticket_id,
        occurred_at=datetime.now(UTC),
        subject="Printer on fire",
        description="Smoke",
        requester=Requester(email=requester),
        priority="high",
        type="corrective",
        channel="api",
        mailbox="support@acme.example",
    )


def ticket_assigned(ticket_id: str) -> TicketAssigned:
    """The ticket given to agent Ann."""
    return TicketAssigned(
        tenant_id=TENANT,
        ticket_id=ticket_id,
        occurred_at=datetime.now(UTC),
        agent_id="agent-ann",
        agent_name="Ann",
        agent_email="ann@example.com",
        channel="api",
        candidates_considered=1,
        reason="best skill",
    )


class NotifyRig:
    """Notify's handler and worker on PostgreSQL, a hand-moved clock, real signed HTTP."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        mailer: Mailer | None = None,
        options: WorkerOptions | None = None,
        allow_private_networks: bool = True,
    ) -> None:
        self.engine = engine
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._outbox, inbox = outbox_table(metadata), inbox_table(metadata)

        def make() -> NotifyUnitOfWork:
            return NotifyUnitOfWork(
                sessions, outbox_table=self._outbox, inbox_table=inbox, source="/helpline/notify"
            )

        self.unit_of_work: Callable[[], NotifyUnitOfWork] = make
        self.clock = Clock()
        self.mailer = mailer or FakeMailer()
        self.options = options or WorkerOptions(email_domain="acme.example", send_timeout=15.0)
        self.sender = guarded_webhooks(
            allow_private_networks=allow_private_networks,
            timeout=self.options.send_timeout,
            max_connections=self.options.max_in_flight,
            provider=TracerProvider(),
        )
        self.renderer = JinjaRenderer()
        self.worker = DeliveryWorker(
            make,
            self.mailer,
            self.sender,
            TracerProvider().get_tracer("test"),
            self.options,
            renderer=self.renderer,
            clock=self.clock,
            jitter=lambda: 0.0,
        )
        self.policy = EmailPolicy(
            escalation_email="escalations@acme.example",
            email_domain="acme.example",
            recipient_cap=5,
        )

    async def add_endpoint(
        self,
        url: str,
        event_types: tuple[str, ...] = ("*",),
        *,
        ordered: bool = False,
        owner_email: str | None = None,
        allow_private_networks: bool = True,
    ) -> str:
        """Register an endpoint through the use case; return its id."""
        endpoint = await endpoints.register_webhook_endpoint(
            endpoints.RegisterWebhookEndpoint(
                tenant_id=TENANT,
                url=url,
                event_types=event_types,
                allow_private_networks=allow_private_networks,
                ordered=ordered,
                owner_email=owner_email,
            ),
            self.unit_of_work(),
        )
        return endpoint.id

    async def secret_of(self, endpoint_id: str) -> str:
        """The endpoint's current signing secret."""
        return (
            await endpoints.get_webhook_endpoint(TENANT, endpoint_id, self.unit_of_work())
        ).secret

    async def emit(self, event: Event) -> Envelope:
        """Hand an event to notify's handler, as the Kafka subscriber does."""
        envelope = envelope_of(event)
        await on_event(envelope, self.unit_of_work(), self.policy, EmailComposer(self.renderer))
        # Deliveries are stamped with the real time: keep the hand-moved clock past it.
        self.clock.now = max(self.clock.now, datetime.now(UTC) + timedelta(milliseconds=1))
        self.worker.wake()
        return envelope

    async def deliveries(self, ticket_id: str | None = None) -> list[Delivery]:
        """The tenant's ledger (of one ticket), oldest first."""
        async with self.unit_of_work() as uow:
            return await uow.deliveries.page(TENANT, ticket_id=ticket_id, limit=10_000)

    async def published(self) -> list[Envelope]:
        """Every event notify staged in its outbox, decoded, in order."""
        async with self.engine.connect() as connection:
            rows = await connection.execute(select(self._outbox).order_by(self._outbox.c.id))
            return [
                from_record(
                    [(name, value.encode()) for name, value in row.headers], row.record_value
                )
                for row in rows
            ]

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.sender.aclose()


@contextlib.asynccontextmanager
async def migrated_engine(postgres: PostgresServer) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh PostgreSQL database migrated by notify's migrations."""
    url = postgres.create_database(unique_name("notify"))
    # Alembic runs its own event loop: give it a thread of its own.
    await asyncio.to_thread(upgrade, MIGRATIONS, url)
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()

"""The process around a service: engine, producer, broker, relay, background loops and HTTP.

Built once by the service's ``bootstrap``; nothing here is created at import time.
"""

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import uvicorn
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpline_shared.events import AuditRecorded
from helpline_shared.kafka_security import faststream_security
from helpline_shared.runtime.audit import AuditBatches, AuditTrail
from helpline_shared.runtime.auth import state_permissions
from helpline_shared.runtime.consumer import (
    DeadLetters,
    HandlerTable,
    TableConsumer,
    subscribe_table,
)
from helpline_shared.runtime.credentials import CredentialVerifier
from helpline_shared.runtime.db import (
    READ_ONLY,
    WalCheckpoints,
    create_engine,
    inbox_table,
    outbox_table,
)
from helpline_shared.runtime.edge import BodyLimit, BodyLimits, Edge
from helpline_shared.runtime.outbox import OutboxRelay
from helpline_shared.runtime.problems import install_problem_handlers, problem
from helpline_shared.runtime.producer import EventProducer
from helpline_shared.runtime.settings import ServiceSettings
from helpline_shared.runtime.telemetry import (
    exports_spans,
    instrument_database,
    service_version,
    setup_logging,
    setup_tracing,
)
from helpline_shared.runtime.uow import SqlUnitOfWork

log = logging.getLogger(__name__)

UnitOfWorkT = TypeVar("UnitOfWorkT", bound=SqlUnitOfWork)
OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}
WAL_CHECKPOINT_INTERVAL = 1.0
"""Seconds between two checkpoints of an SQLite service's WAL, in a thread (``WalCheckpoints``):
a few hundred pages each at 50 tickets/s, far below the auto-checkpoint a commit would run."""
DEGRADED = "degraded: "
"""Prefix of a readiness check that failed without making the service unready."""


@dataclass(frozen=True)
class BackgroundLoop:
    """A long-running task of the service (a timer loop, a delivery worker)."""

    name: str
    run: Callable[[], Coroutine[Any, Any, None]]
    stop: Callable[[], Awaitable[None]]


def periodic_loop(
    name: str, interval: float, action: Callable[[asyncio.Event], Awaitable[object]]
) -> BackgroundLoop:
    """A loop that runs ``action`` at start and every ``interval`` seconds until stopped.

    A failing round is logged and the loop carries on (database or network outages pass);
    ``action`` receives the stop event, so a long round can end early at shutdown.
    """
    stopping = asyncio.Event()

    async def run() -> None:
        while not stopping.is_set():
            try:
                await action(stopping)
            except Exception:
                log.exception("background round failed; trying again later", extra={"loop": name})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), interval)

    async def stop() -> None:
        stopping.set()

    return BackgroundLoop(name, run, stop)


class ServiceRuntime:
    """Everything a Helpline service runs on besides its own domain."""

    def __init__(
        self,
        *,
        name: str,
        settings: ServiceSettings,
        metadata: MetaData,
        readiness_requires_kafka: bool = True,
    ) -> None:
        """``readiness_requires_kafka=False``: ``/readyz`` stays 200 while Kafka is away.

        For a service whose outbox keeps accepting work during a broker outage (intake): Kafka
        is then reported ``degraded`` instead of taking every pod out of service.
        """
        self.name = name
        self.settings = settings
        self.readiness_requires_kafka = readiness_requires_kafka
        self.tracer_provider = setup_tracing(
            f"helpline-{name}",
            service_version=service_version(f"helpline-{name}"),
            environment=settings.environment,
        )
        setup_logging(name, settings.log_level)
        self.outbox_table = outbox_table(metadata)
        self.inbox_table = inbox_table(metadata)
        self.database_url = settings.resolved_database_url(name)
        self.engine = create_engine(self.database_url)
        if exports_spans(self.tracer_provider):
            # A span per SQL statement was 8-12% of a service's CPU in the pipeline profile:
            # not paid when no exporter would receive them.
            instrument_database(self.engine.sync_engine, self.tracer_provider)
        self.session_factory = async_sessionmaker(self.engine, expire_on_commit=False)
        security = settings.kafka_security()
        self.producer = EventProducer(
            settings.kafka_bootstrap_servers, f"helpline-{name}", security
        )
        self.broker = KafkaBroker(
            settings.kafka_bootstrap_servers,
            client_id=f"helpline-{name}",
            security=faststream_security(security),
            # No FastStream telemetry middleware: it makes one span per batch; our subscriber
            # makes one per record, in the trace of the ticket it belongs to.
            graceful_timeout=settings.shutdown_timeout,
            allow_auto_create_topics=False,
            # Our logger: its records go through the JSON handler with trace ids.
            logger=logging.getLogger("helpline.kafka"),
            # FastStream's own messages ("Received" and "Processed" for every consumed batch)
            # at DEBUG: at the INFO level services run at, two JSON lines a batch were formatted
            # and written. A handler's error is still logged at ERROR.
            log_level=logging.DEBUG,
        )
        self.relay = OutboxRelay(
            engine=self.engine,
            table=self.outbox_table,
            producer=self.producer,
            service=name,
            poll_interval=settings.relay_poll_interval,
            tracer_provider=self.tracer_provider,
        )
        self.dead_letters = DeadLetters(self.producer, group=f"helpline-{name}")
        self.verifier = CredentialVerifier(
            identity_url=settings.identity_url,
            issuer=settings.identity_issuer,
            audience=settings.identity_audience,
            client=httpx.AsyncClient(timeout=3.0),
        )
        self._loops: list[BackgroundLoop] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.wal_checkpoints = WalCheckpoints.of(self.engine)
        if self.wal_checkpoints is not None:
            checkpoints = self.wal_checkpoints
            self.add_loop(
                periodic_loop(
                    "wal-checkpoint",
                    WAL_CHECKPOINT_INTERVAL,
                    lambda _stop: checkpoints.checkpoint(),
                )
            )
        self._audits = AuditBatches(lambda: self.unit_of_work(SqlUnitOfWork))

    def unit_of_work(self, kind: type[UnitOfWorkT]) -> UnitOfWorkT:
        """A fresh unit of work of ``kind`` on this service's database and outbox."""
        return kind(
            self.session_factory,
            outbox_table=self.outbox_table,
            inbox_table=self.inbox_table,
            source=f"/helpline/{self.name}",
            topic_prefix=self.settings.topic_prefix,
            # A relay that does not run is handed nothing (it would keep what it is handed).
            relay=self.relay if self.settings.relay_enabled else None,
        )

    def session(self) -> AsyncSession:
        """A session for read-only queries."""
        return self.session_factory()

    def consume(
        self,
        topics: Sequence[str],
        table: HandlerTable[UnitOfWorkT],
        unit_of_work: Callable[[], UnitOfWorkT],
    ) -> TableConsumer[UnitOfWorkT]:
        """Consume ``topics`` in this service's consumer group through ``table``."""
        return subscribe_table(
            self.broker,
            topics=[self.settings.topic_prefix + topic for topic in topics],
            group=f"helpline-{self.name}",
            table=table,
            unit_of_work=unit_of_work,
            dead_letters=self.dead_letters,
            fetch_max_wait_ms=self.settings.consumer_fetch_max_wait_ms,
            tracer=(
                self.tracer_provider.get_tracer("helpline.consumer")
                if exports_spans(self.tracer_provider)
                else None
            ),
            batch_size=self.settings.consumer_batch_size,
        )

    def add_loop(self, loop: BackgroundLoop) -> None:
        """Run ``loop`` while the service runs."""
        self._loops.append(loop)

    async def start(self) -> None:
        """Connect to Kafka, start consumers, the relay and the background loops."""
        await self.producer.start()
        await self.broker.start()
        if self.settings.relay_enabled:
            self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        for loop in self._loops:
            self._tasks.append(asyncio.create_task(loop.run(), name=loop.name))
        log.info("service started", extra={"service": self.name})

    async def stop(self) -> None:
        """Stop consuming (finishing in-flight work), stop loops, flush the outbox, disconnect."""
        await self.broker.stop()
        for loop in self._loops:
            await loop.stop()
        if self.settings.relay_enabled:
            await self.relay.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.producer.stop()
        if self.wal_checkpoints is not None:
            await asyncio.to_thread(self.wal_checkpoints.close)
        await self.engine.dispose()
        if self.verifier.client is not None:
            await self.verifier.client.aclose()
        self.tracer_provider.force_flush()
        log.info("service stopped", extra={"service": self.name})

    async def readiness(self) -> dict[str, str]:
        """Whether the database and Kafka answer, by name: "ok", or the error.

        A dependency the service may run without (Kafka, unless ``readiness_requires_kafka``)
        reports its error as ``degraded: <error>``; :func:`is_ready` tells them apart.
        """
        checks: dict[str, str] = {}
        try:
            async with self.engine.connect() as connection:
                await connection.execution_options(**READ_ONLY)
                await asyncio.wait_for(connection.execute(text("SELECT 1")), 2.0)
            checks["database"] = "ok"
        except Exception as error:  # noqa: BLE001 - reported, not raised
            checks["database"] = _failure(error)
        try:
            await asyncio.wait_for(self.producer.ping(), 2.0)
            checks["kafka"] = "ok"
        except Exception as error:  # noqa: BLE001 - reported, not raised
            checks["kafka"] = _failure(error)
            if not self.readiness_requires_kafka:
                checks["kafka"] = f"{DEGRADED}{checks['kafka']}"
        return checks

    async def record_audit(self, event: AuditRecorded) -> None:
        """Publish an audit record through the outbox, committed with those of concurrent
        answers (``AuditBatches``), before this returns."""
        await self._audits.record(event)

    def http_app(
        self,
        title: str,
        routers: Sequence[APIRouter],
        body_limits: Mapping[tuple[str, str], int] | None = None,
        audit: bool = True,
    ) -> FastAPI:
        """The service's FastAPI app: its routers, ops endpoints, problem+json errors, tracing.

        Request bodies are limited to ``http_max_body_bytes``, or per route by ``body_limits``
        (``("POST", "/v1/path/{id}")`` → bytes); each operation states its limit and its
        permission in OpenAPI. Writes, denials and refused credentials are audited
        (``audit=False``: the service records them itself, as identity does).
        """

        @asynccontextmanager
        async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        # FastAPI's own telemetry off: ``Edge`` makes the one server span and the metrics.
        app = FastAPI(title=title, version="0.1.0", lifespan=lifespan, telemetry=NO_TELEMETRY)
        app.state.verifier = self.verifier
        install_problem_handlers(app)
        app.include_router(self._ops_router())
        for router in routers:
            app.include_router(router)
        limits = BodyLimits(self.settings.http_max_body_bytes, body_limits)
        app.add_middleware(BodyLimit, limits=limits)
        _state_in_openapi(app, limits)
        trail = AuditTrail(service=self.name, record=self.record_audit) if audit else None
        app.state.audit_trail = trail
        # Outermost but for Starlette's own error middleware: even a 413 has a request id.
        app.add_middleware(
            Edge,
            tracer=(
                self.tracer_provider.get_tracer("helpline.http")
                if exports_spans(self.tracer_provider)
                else None
            ),
            answered=trail.answered if trail else None,
            unobserved=OPS_PATHS,
        )
        return app

    def _ops_router(self) -> APIRouter:
        router = APIRouter(tags=["operations"])

        @router.get("/healthz")
        async def healthz() -> dict[str, str]:
            """Alive: the process answers."""
            return {"status": "ok"}

        @router.get("/readyz", response_model=None)
        async def readyz() -> Response:
            """Ready: the database and (unless the service may run without it) Kafka answer."""
            checks = await self.readiness()
            if not is_ready(checks):
                return problem(
                    503, "Service unavailable", "a dependency is unreachable", checks=checks
                )
            if all(value == "ok" for value in checks.values()):
                return Response('{"status":"ready"}', media_type="application/json")
            return JSONResponse({"status": "degraded", "checks": checks})

        @router.get("/metrics")
        async def metrics() -> Response:
            """Prometheus metrics of this process."""
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

        return router


def is_ready(checks: Mapping[str, str]) -> bool:
    """Whether every check of :meth:`ServiceRuntime.readiness` is "ok" or only degraded."""
    return all(value == "ok" or value.startswith(DEGRADED) for value in checks.values())


def _failure(error: Exception) -> str:
    """How a failed readiness check is reported (bounded: it ends up in a probe's log)."""
    return f"{type(error).__name__}: {error}"[:200]


def _state_in_openapi(app: FastAPI, limits: BodyLimits) -> None:
    """Make ``app``'s OpenAPI state each operation's body limit and permission."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        return state_permissions(app, limits.declare(generate()))

    app.openapi = openapi  # type: ignore[method-assign]


def server_config(app: FastAPI, settings: ServiceSettings, port: int) -> uvicorn.Config:
    """How :func:`serve` runs ``app``: on uvloop, parsing HTTP with httptools."""
    # Both are C implementations of what asyncio's selector loop and h11 do in Python; every
    # consumed record, produced record and request passes through them. Forwarded headers are
    # read only from the proxies configured: otherwise uvicorn's middleware would look at every
    # request's headers (and trust those of 127.0.0.1) for nothing.
    forwarded = settings.forwarded_allow_ips or os.environ.get("FORWARDED_ALLOW_IPS") or None
    return uvicorn.Config(
        app,
        proxy_headers=forwarded is not None,
        forwarded_allow_ips=forwarded,
        host=settings.http_host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout),
    )


GC_THRESHOLDS = (10_000, 20, 20)
"""The cyclic collector's thresholds while a service runs (Python's are 700, 10, 10).

A young collection every 700 allocations promoted the objects a batch or a request was still
holding (a session's identity map, a parsed record) to the older generations, whose collections
traverse far more; most of them are freed by reference counting a moment later anyway."""


def settle_heap() -> None:
    """After start-up: collect once, then move every object alive to the collector's permanent
    generation (``gc.freeze``), and collect young objects less often (``GC_THRESHOLDS``).

    A full collection traversed every object of the service (about 150,000 after start-up:
    modules, FastAPI, SQLAlchemy, pydantic): about 90 ms of CPU on this machine with the event
    loop stopped, a pause every handler and request of the service waited for. Frozen objects
    are never traversed again, so the rare full collections of a running service take
    milliseconds.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class _Server(uvicorn.Server):
    """uvicorn's server, settling the heap once the application has started."""

    async def startup(self, sockets: list[Any] | None = None) -> None:
        await super().startup(sockets)
        settle_heap()


def serve(app: FastAPI, settings: ServiceSettings, port: int) -> None:
    """Run ``app`` until SIGTERM or SIGINT, then shut down gracefully."""
    _Server(server_config(app, settings, port)).run()

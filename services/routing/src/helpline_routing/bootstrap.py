"""The one place routing is wired: settings, runtime, routes, subscriptions and loops."""

import asyncio
import contextlib
import logging
from pathlib import Path

from fastapi import FastAPI

from helpline_routing.adapters.orm import metadata, timers
from helpline_routing.config import RoutingSettings
from helpline_routing.entrypoints import http_admin, http_agents, http_tickets
from helpline_routing.service_layer import handlers, offers
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork, UnitOfWorkFactory
from helpline_shared import topics
from helpline_shared.envelope import Envelope
from helpline_shared.runtime.service import BackgroundLoop, ServiceRuntime
from helpline_shared.runtime.timers import TimerLoop

NAME = "routing"
MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


class QueueSweeper:
    """Drains every queue now and then, in case a process died between a release and its drain."""

    def __init__(self, unit_of_work: UnitOfWorkFactory, interval: float) -> None:
        self._unit_of_work = unit_of_work
        self._interval = interval
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        """Sweep until stopped; failures are logged, never fatal."""
        while not self._stopping.is_set():
            try:
                await handlers.drain_all(self._unit_of_work())
            except Exception:  # the sweeper must outlive database outages
                log.exception("queue sweep failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)

    async def stop(self) -> None:
        """Stop after the current sweep."""
        self._stopping.set()


def bootstrap(settings: RoutingSettings | None = None) -> tuple[FastAPI, ServiceRuntime]:
    """Build routing's app and runtime (nothing connects until the app starts)."""
    settings = settings or RoutingSettings()
    runtime = ServiceRuntime(name=NAME, settings=settings, metadata=metadata)
    timer_loop: TimerLoop[RoutingUnitOfWork]

    def unit_of_work() -> RoutingUnitOfWork:
        uow = runtime.unit_of_work(RoutingUnitOfWork)
        uow.wake_timers = timer_loop.wake
        return uow

    timer_loop = TimerLoop(
        unit_of_work=unit_of_work, table=timers, fire=offers.fire_timer, service=NAME,
        poll_interval=settings.timer_poll_interval, batch_size=settings.timer_batch_size,
        tracer_provider=runtime.tracer_provider,
    )
    sweeper = QueueSweeper(unit_of_work, settings.drain_interval)

    async def on_event(envelope: Envelope) -> None:
        await handlers.on_ticket_event(envelope, unit_of_work())

    runtime.subscribe([topics.TICKETS, topics.SLA], on_event)
    runtime.add_loop(BackgroundLoop("routing-timers", timer_loop.run, timer_loop.stop))
    runtime.add_loop(BackgroundLoop("queue-sweeper", sweeper.run, sweeper.stop))
    app = runtime.http_app("Helpline routing", [
        http_agents.router(unit_of_work), http_admin.router(unit_of_work),
        http_tickets.router(unit_of_work)])
    return app, runtime


"""The one place routing is wired: settings, runtime, routes, subscriptions and loops."""

import logging
from pathlib import Path

from fastapi import FastAPI

from helpline_routing.adapters.orm import metadata, timers
from helpline_routing.config import RoutingSettings
from helpline_routing.entrypoints import http_admin, http_agents, http_reports, http_tickets
from helpline_routing.service_layer import handlers, offers
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared import topics
from helpline_shared.runtime.service import BackgroundLoop, ServiceRuntime, periodic_loop
from helpline_shared.runtime.timers import TimerLoop

NAME = "routing"
MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


def bootstrap(settings: RoutingSettings | None = None) -> tuple[FastAPI, ServiceRuntime]:
    """Build routing's app and runtime (nothing connects until the app starts)."""
    settings = settings or RoutingSettings()
    runtime = ServiceRuntime(name=NAME, settings=settings, metadata=metadata)
    timer_loop: TimerLoop[RoutingUnitOfWork]

    def unit_of_work() -> RoutingUnitOfWork:
        uow = runtime.unit_of_work(RoutingUnitOfWork)
        uow.wake_timers = timer_loop.wake_for
        uow.drain_soon = drainer.wake
        return uow

    drainer = handlers.QueueDrainer(unit_of_work)
    timer_loop = TimerLoop(
        unit_of_work=unit_of_work,
        table=timers,
        fire=offers.timer_table(),
        service=NAME,
        poll_interval=settings.timer_poll_interval,
        batch_size=settings.timer_batch_size,
        tracer_provider=runtime.tracer_provider,
    )

    runtime.consume(
        [topics.TICKETS, topics.SLA, topics.IDENTITY], handlers.handler_table(), unit_of_work
    )
    runtime.add_loop(BackgroundLoop("routing-timers", timer_loop.run, timer_loop.stop))
    runtime.add_loop(BackgroundLoop("queue-drainer", drainer.run, drainer.stop))
    # Drains every queue now and then, in case a process died between a release and its drain.
    runtime.add_loop(
        periodic_loop(
            "queue-sweeper",
            settings.drain_interval,
            lambda _stopping: handlers.drain_all(unit_of_work()),
        )
    )
    app = runtime.http_app(
        "Helpline routing",
        [
            http_agents.router(unit_of_work),
            http_admin.router(unit_of_work),
            http_tickets.router(unit_of_work),
            http_reports.router(unit_of_work),
        ],
    )
    return app, runtime

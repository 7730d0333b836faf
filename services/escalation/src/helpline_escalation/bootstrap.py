"""The one place escalation is wired: settings, runtime, subscriptions, timer loop and routes."""

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from helpline_escalation.adapters.intake_client import HttpTicketOpener
from helpline_escalation.adapters.orm import metadata, timers
from helpline_escalation.config import EscalationSettings
from helpline_escalation.domain.policy import default_policy
from helpline_escalation.entrypoints import http, http_preventive, http_reports
from helpline_escalation.service_layer import handlers
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared import topics
from helpline_shared.runtime.service import BackgroundLoop, ServiceRuntime
from helpline_shared.runtime.timers import TimerLoop

NAME = "escalation"
MIGRATIONS = Path(__file__).parent / "migrations"


def bootstrap(settings: EscalationSettings | None = None) -> tuple[FastAPI, ServiceRuntime]:
    """Build escalation's app and runtime (nothing connects until the app starts)."""
    settings = settings or EscalationSettings()
    runtime = ServiceRuntime(name=NAME, settings=settings, metadata=metadata)
    fallback = default_policy(settings.first_response_targets)

    def unit_of_work() -> EscalationUnitOfWork:
        uow = runtime.unit_of_work(EscalationUnitOfWork)
        uow.wake_timers = timer_loop.wake_for
        return uow

    service_key = settings.intake_service_key
    opener = HttpTicketOpener(
        settings.intake_url,
        service_key.get_secret_value() if service_key else None,
        tracer_provider=runtime.tracer_provider,
    )
    late_after = timedelta(seconds=settings.preventive_late_after)

    timer_loop = TimerLoop(
        unit_of_work=unit_of_work,
        table=timers,
        fire=handlers.timer_table(fallback, opener, late_after),
        service=NAME,
        poll_interval=settings.timer_poll_interval,
        batch_size=settings.timer_batch_size,
        tracer_provider=runtime.tracer_provider,
    )

    runtime.consume([topics.TICKETS], handlers.handler_table(fallback, unit_of_work), unit_of_work)
    runtime.add_loop(BackgroundLoop("sla-timers", timer_loop.run, timer_loop.stop))
    shortest_interval = timedelta(seconds=settings.preventive_min_interval)
    app = runtime.http_app(
        "Helpline escalation",
        [
            http.router(unit_of_work, fallback),
            http_preventive.router(unit_of_work, shortest_interval),
            http_reports.router(unit_of_work),
        ],
    )
    return app, runtime

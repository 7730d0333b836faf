"""The one place escalation is wired: settings, runtime, subscriptions, timer loop and routes."""

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from helpline_escalation.adapters.intake_client import HttpTicketOpener
from helpline_escalation.adapters.orm import metadata, timers
from helpline_escalation.config import EscalationSettings
from helpline_escalation.domain.policy import default_policy
from helpline_escalation.entrypoints import http, http_preventive
from helpline_escalation.service_layer import handlers, preventive
from helpline_escalation.service_layer.unit_of_work import EscalationUnitOfWork
from helpline_shared import topics
from helpline_shared.envelope import Envelope
from helpline_shared.runtime.service import BackgroundLoop, ServiceRuntime
from helpline_shared.runtime.timers import Timer, TimerLoop

NAME = "escalation"
MIGRATIONS = Path(__file__).parent / "migrations"


def bootstrap(settings: EscalationSettings | None = None) -> tuple[FastAPI, ServiceRuntime]:
    """Build escalation's app and runtime (nothing connects until the app starts)."""
    settings = settings or EscalationSettings()
    runtime = ServiceRuntime(name=NAME, settings=settings, metadata=metadata)
    fallback = default_policy(settings.first_response_targets)

    def unit_of_work() -> EscalationUnitOfWork:
        return runtime.unit_of_work(EscalationUnitOfWork)

    service_key = settings.service_key.get_secret_value() if settings.service_key else None
    opener = HttpTicketOpener(settings.intake_url, service_key,
                              tracer_provider=runtime.tracer_provider)
    late_after = timedelta(seconds=settings.preventive_late_after)

    async def fire(uow: EscalationUnitOfWork, timer: Timer) -> None:
        if timer.kind == preventive.OCCURRENCE_TIMER:
            await preventive.fire_occurrence(uow, timer, opener, late_after)
        else:
            await handlers.fire_timer(uow, timer, fallback)

    timer_loop = TimerLoop(
        unit_of_work=unit_of_work,
        table=timers,
        fire=fire,
        service=NAME,
        poll_interval=settings.timer_poll_interval,
        batch_size=settings.timer_batch_size,
        tracer_provider=runtime.tracer_provider,
    )

    async def on_ticket_event(envelope: Envelope) -> None:
        await handlers.on_ticket_event(envelope, unit_of_work(), fallback)
        # A deadline may already be near (or past); do not wait for the next poll.
        timer_loop.wake()

    runtime.subscribe([topics.TICKETS], on_ticket_event)
    runtime.add_loop(BackgroundLoop("sla-timers", timer_loop.run, timer_loop.stop))
    shortest_interval = timedelta(seconds=settings.preventive_min_interval)
    app = runtime.http_app("Helpline escalation", [
        http.router(unit_of_work, fallback),
        http_preventive.router(unit_of_work, shortest_interval),
    ])
    return app, runtime

"""The one place intake is wired: settings, runtime, routes and subscriptions."""

from pathlib import Path

from fastapi import FastAPI

from helpline_intake.adapters.orm import metadata
from helpline_intake.config import IntakeSettings
from helpline_intake.entrypoints import http
from helpline_intake.service_layer import handlers
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared import topics
from helpline_shared.envelope import Envelope
from helpline_shared.runtime.service import ServiceRuntime

NAME = "intake"
MIGRATIONS = Path(__file__).parent / "migrations"


def bootstrap(settings: IntakeSettings | None = None) -> tuple[FastAPI, ServiceRuntime]:
    """Build intake's app and runtime (nothing connects until the app starts)."""
    settings = settings or IntakeSettings()
    runtime = ServiceRuntime(name=NAME, settings=settings, metadata=metadata)

    def unit_of_work() -> IntakeUnitOfWork:
        return runtime.unit_of_work(IntakeUnitOfWork)

    async def on_event(envelope: Envelope) -> None:
        await handlers.on_routing_or_sla_event(envelope, unit_of_work())

    runtime.subscribe([topics.ROUTING, topics.SLA], on_event)
    app = runtime.http_app("Helpline intake", [http.router(unit_of_work, settings.max_page_size)])
    return app, runtime

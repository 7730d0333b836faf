"""The one place routing is wired: settings, runtime, routes and subscriptions."""

from pathlib import Path

from fastapi import FastAPI

from helpline_routing.adapters.orm import metadata
from helpline_routing.config import RoutingSettings
from helpline_routing.entrypoints import http
from helpline_routing.service_layer import handlers
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared import topics
from helpline_shared.envelope import Envelope
from helpline_shared.runtime.service import ServiceRuntime

NAME = "routing"
MIGRATIONS = Path(__file__).parent / "migrations"


def bootstrap(settings: RoutingSettings | None = None) -> tuple[FastAPI, ServiceRuntime]:
    """Build routing's app and runtime (nothing connects until the app starts)."""
    settings = settings or RoutingSettings()
    runtime = ServiceRuntime(name=NAME, settings=settings, metadata=metadata)

    def unit_of_work() -> RoutingUnitOfWork:
        return runtime.unit_of_work(RoutingUnitOfWork)

    async def on_event(envelope: Envelope) -> None:
        await handlers.on_ticket_event(envelope, unit_of_work())

    runtime.subscribe([topics.TICKETS], on_event)
    app = runtime.http_app("Helpline routing", [http.router(unit_of_work)])
    return app, runtime

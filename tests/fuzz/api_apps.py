"""Each service's real FastAPI app on a SQLite file migrated to head, for schemathesis in-process.

The app is the one ``bootstrap`` builds; only its lifespan (Kafka producer, consumers, relay and
background loops) is not started, as in the services' own HTTP unit tests: every route works on
the database and the outbox alone. ``/readyz`` therefore reports Kafka unreachable (503), which
``test_api_fuzz`` checks on its own instead of fuzzing it.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from schemathesis.core import NOT_SET

from helpline_escalation import bootstrap as escalation
from helpline_escalation.config import EscalationSettings
from helpline_intake import bootstrap as intake
from helpline_intake.adapters.attachments import MemoryAttachmentStore
from helpline_intake.config import IntakeSettings
from helpline_notify import bootstrap as notify
from helpline_notify.adapters.fakes import FakeMailer
from helpline_notify.config import NotifySettings
from helpline_routing import bootstrap as routing
from helpline_routing.config import RoutingSettings
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.service import ServiceRuntime

SECRET = "fuzz-token-secret"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class ServiceApp:
    """One service's app and runtime, built in ``directory``."""

    app: FastAPI
    runtime: ServiceRuntime

    def asgi(self) -> Asgi:
        """The app, answering the lifespan itself: startup does nothing, shutdown closes the DB."""
        app, runtime = self.app, self.runtime

        async def application(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "lifespan":
                await app(scope, receive, send)
                return
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    # In the event loop the requests ran in: aiosqlite connections belong to it.
                    await runtime.engine.dispose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

        return application


def build(service: str, directory: Path) -> ServiceApp:
    """``service``'s app (intake, routing, escalation or notify) on a fresh migrated database."""
    common: dict[str, Any] = {"data_dir": directory, "token_secret": SECRET}
    if service == "intake":
        intake_settings = IntakeSettings(**common, smtp_server_enabled=False,
                                         domain_verification="trust")
        upgrade(intake.MIGRATIONS, intake_settings.resolved_database_url(intake.NAME))
        return ServiceApp(*intake.bootstrap(intake_settings, MemoryAttachmentStore()))
    if service == "routing":
        routing_settings = RoutingSettings(**common)
        upgrade(routing.MIGRATIONS, routing_settings.resolved_database_url(routing.NAME))
        return ServiceApp(*routing.bootstrap(routing_settings))
    if service == "escalation":
        escalation_settings = EscalationSettings(**common)
        upgrade(escalation.MIGRATIONS,
                escalation_settings.resolved_database_url(escalation.NAME))
        return ServiceApp(*escalation.bootstrap(escalation_settings))
    if service == "notify":
        notify_settings = NotifySettings(**common)
        upgrade(notify.MIGRATIONS, notify_settings.resolved_database_url(notify.NAME))
        return ServiceApp(*notify.bootstrap(notify_settings, mailer=FakeMailer()))
    raise ValueError(f"unknown service {service!r}")


SERVICES = ("intake", "routing", "escalation", "notify")


@dataclass(frozen=True)
class Seed:
    """A request that makes a record, and which path parameters its answer's fields name."""

    method: str
    path: str
    body: Any
    captures: dict[str, str]
    """Path parameter name → dotted field of the JSON answer (``attachments.0.id``)."""


_TICKET = {"subject": "Export fails", "description": "since 4.2", "priority": "high",
           "requester": {"email": "cy@customer.example", "name": "Cy"}, "tags": ["exports"]}
_AGENT = {"name": "ann", "email": "ann@acme.test", "skills": {"exports": 5},
          "capacity": {"api": 2}, "presence": "available", "teams": ["tier1"],
          "languages": ["en"]}
_POLICY = {"name": "Premium", "position": 0, "conditions": {"plans": ["premium"]},
           "calendar": {"name": "Berlin", "time_zone": "Europe/Berlin",
                        "weekly_hours": {"0": [{"start": "09:00", "end": "17:00"}]}},
           "metrics": {"first_response": {"targets": {"high": 3600}}}}
_SCHEDULE = {"cron": "0 9 1 * *", "time_zone": "Europe/Berlin", "ticket": {
    "subject": "Monthly check", "description": "Check backups", "requester_email": "ops@acme.test"}}

SEEDS: dict[str, list[Seed]] = {
    "intake": [
        Seed("POST", "/v1/tickets", _TICKET, {"ticket_id": "id"}),
        Seed("POST", "/v1/tickets/{ticket_id}/messages",
             {"body": "log attached", "attachments": [
                 {"filename": "a.txt", "content_base64": "YQ=="}]},
             {"message_id": "id", "attachment_id": "attachments.0.id"}),
        Seed("POST", "/v1/organizations", {"name": "Customer Inc", "plan": "premium",
                                           "domains": ["customer.example"]},
             {"organization_id": "id"}),
        Seed("POST", "/v1/requesters", {"email": "zoe@zed.example"}, {"requester_id": "id"}),
        Seed("POST", "/v1/domains", {"name": "acme.test"}, {"domain_id": "id"}),
        Seed("POST", "/v1/domains/{domain_id}/verify", NOT_SET, {}),
        Seed("POST", "/v1/mailboxes", {"address": "support@acme.test"}, {"mailbox_id": "id"}),
    ],
    "routing": [
        Seed("POST", "/v1/agents", _AGENT, {"agent_id": "id"}),
        Seed("PUT", "/v1/routing/rules", {"rules": [
            {"id": "money", "conditions": {"keywords": ["invoice"]},
             "outcome": {"required_skills": {"billing": 3}}}]}, {"version": "version"}),
    ],
    "escalation": [
        Seed("PUT", "/v1/sla/policies/{policy_id}", _POLICY, {}),
        Seed("PUT", "/v1/preventive-schedules/{schedule_id}", _SCHEDULE, {}),
    ],
    "notify": [
        Seed("POST", "/v1/webhook-endpoints", {"url": "https://hooks.example.com/in"},
             {"endpoint_id": "id"}),
        Seed("POST", "/v1/subscriptions", {"event_types": ["helpline.sla.*"],
                                           "roles": ["assignee"],
                                           "addresses": ["noc@acme.example"]},
             {"subscription_id": "id"}),
        Seed("POST", "/v1/suppressions", {"address": "gone@acme.example"}, {}),
    ],
}
"""Records made before fuzzing, so that path parameters can name things that exist."""

KNOWN: dict[str, dict[str, str]] = {
    "escalation": {"policy_id": "premium", "schedule_id": "monthly"},
    "notify": {"address": "gone@acme.example", "event_type": "helpline.ticket.created.v1",
               "language": "en"},
}
"""Path parameter values that exist without a captured answer."""


def field(document: Any, dotted: str) -> str:
    """The value at ``dotted`` (``attachments.0.id``) in a decoded JSON answer, as text."""
    for key in dotted.split("."):
        document = document[int(key)] if isinstance(document, list) else document[key]
    return str(document)

"""Each service's real FastAPI app on a SQLite file migrated to head, for schemathesis in-process.

The app is the one ``bootstrap`` builds; only its lifespan (Kafka producer, consumers, relay and
background loops) is not started, as in the services' own HTTP unit tests: every route works on
the database and the outbox alone. ``/readyz`` therefore reports Kafka unreachable (503, or
"degraded" for intake), which ``test_api_fuzz`` checks on its own instead of fuzzing it.

Credentials: the four ticket services trust the test process's stand-in identity and are called
with an admin API key (or an admin's access token) of tenant ``acme`` from it. Identity is its
own authority: ``build`` creates tenant ``acme`` through identity's API with a known operator key,
and calls it with an admin API key identity issued (its tenant routes with the operator key).
"""

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import SecretStr
from schemathesis.core import NOT_SET

from helpline_escalation import bootstrap as escalation
from helpline_escalation.config import EscalationSettings
from helpline_identity import bootstrap as identity
from helpline_identity.config import IdentitySettings
from helpline_intake import bootstrap as intake
from helpline_intake.adapters.attachments import MemoryAttachmentStore
from helpline_intake.config import IntakeSettings
from helpline_notify import bootstrap as notify
from helpline_notify.adapters.fakes import FakeMailer
from helpline_notify.config import NotifySettings
from helpline_routing import bootstrap as routing
from helpline_routing.config import RoutingSettings
from helpline_shared.runtime.auth import PERMISSION_EXTENSION
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.service import ServiceRuntime
from helpline_shared.runtime.testing import stand_in_identity

IDENTITY = stand_in_identity()
TENANT = "acme"
OPERATOR_KEY = "fuzz-operator-key-0123456789abcdef"
PASSWORD = "correct horse battery staple"
OPERATOR_PATHS = ("/v1/tenants", "/v1/signing-keys")
"""Identity's routes for the deployment operator: called with the operator key."""

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


def bearer(token: str) -> dict[str, str]:
    """An Authorization header."""
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class ServiceApp:
    """One service's app and runtime, built in ``directory``, and credentials it accepts."""

    app: FastAPI
    runtime: ServiceRuntime
    service: str
    key: str
    """An admin API key of ``acme`` this service accepts."""
    revoked_key: str
    """An API key of ``acme`` this service's identity issued and revoked."""

    def credentials(self, path: str, person: bool = False) -> dict[str, str]:
        """Valid credentials of ``acme``'s admin for ``path``: an API key, or (``person``) a
        fresh access token; identity's tenant routes take the operator key."""
        if self.service == "identity":
            return bearer(OPERATOR_KEY if path.startswith(OPERATOR_PATHS) else self.key)
        return bearer(IDENTITY.person(TENANT, "admin", "fuzz-admin") if person else self.key)

    def secured(self, method: str, path: str, operation: dict[str, Any]) -> bool:
        """Whether the operation requires a credential: it states the permission it requires
        (``helpline_shared.permissions.PUBLIC_OPERATIONS`` are the only ones that do not)."""
        return PERMISSION_EXTENSION in operation

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
    """``service``'s app (intake, routing, escalation, notify or identity) on a fresh migrated
    database."""
    if service == "identity":
        return _identity(directory)
    common: dict[str, Any] = {"data_dir": directory, **IDENTITY.settings()}
    built: tuple[FastAPI, ServiceRuntime]
    if service == "intake":
        intake_settings = IntakeSettings(
            **common, smtp_server_enabled=False, domain_verification="trust"
        )
        upgrade(intake.MIGRATIONS, intake_settings.resolved_database_url(intake.NAME))
        built = intake.bootstrap(intake_settings, MemoryAttachmentStore())
    elif service == "routing":
        routing_settings = RoutingSettings(**common)
        upgrade(routing.MIGRATIONS, routing_settings.resolved_database_url(routing.NAME))
        built = routing.bootstrap(routing_settings)
    elif service == "escalation":
        escalation_settings = EscalationSettings(**common)
        upgrade(escalation.MIGRATIONS, escalation_settings.resolved_database_url(escalation.NAME))
        built = escalation.bootstrap(escalation_settings)
    elif service == "notify":
        notify_settings = NotifySettings(**common)
        upgrade(notify.MIGRATIONS, notify_settings.resolved_database_url(notify.NAME))
        built = notify.bootstrap(notify_settings, mailer=FakeMailer())
    else:
        raise ValueError(f"unknown service {service!r}")
    revoked = IDENTITY.api_key(TENANT)
    IDENTITY.revoke(revoked)
    return ServiceApp(*built, service=service, key=IDENTITY.api_key(TENANT), revoked_key=revoked)


def _identity(directory: Path) -> ServiceApp:
    """Identity with tenant ``acme``, its admin and an admin API key, made through its API."""
    settings = IdentitySettings(
        data_dir=directory,
        operator_key_sha256=SecretStr(hashlib.sha256(OPERATOR_KEY.encode()).hexdigest()),
        signing_key_publish_lead=0,
    )
    upgrade(identity.MIGRATIONS, settings.resolved_database_url(identity.NAME))
    app, runtime = identity.bootstrap(settings)

    async def provision() -> tuple[str, str]:
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://identity") as http:
                created = await http.post(
                    "/v1/tenants",
                    headers=bearer(OPERATOR_KEY),
                    json={
                        "tenant_id": TENANT,
                        "name": "Acme",
                        "admin": {"name": "Root", "email": "root@acme.test", "password": PASSWORD},
                    },
                )
                assert created.status_code == 201, created.text
                login = await http.post(
                    "/v1/login",
                    json={"tenant": TENANT, "email": "root@acme.test", "password": PASSWORD},
                )
                admin = bearer(login.json()["access_token"])
                keys = []
                for name in ("fuzz", "revoked"):
                    made = await http.post(
                        "/v1/api-keys", headers=admin, json={"name": name, "scopes": ["admin"]}
                    )
                    assert made.status_code == 201, made.text
                    keys.append(made.json())
                revoked = await http.delete(f"/v1/api-keys/{keys[1]['id']}", headers=admin)
                assert revoked.status_code == 204, revoked.text
                return keys[0]["key"], keys[1]["key"]
        finally:
            # aiosqlite connections belong to this event loop: the fuzzing runs in another.
            await runtime.engine.dispose()

    key, revoked_key = asyncio.run(provision())
    return ServiceApp(app, runtime, service="identity", key=key, revoked_key=revoked_key)


SERVICES = ("intake", "routing", "escalation", "notify", "identity")


@dataclass(frozen=True)
class Seed:
    """A request that makes a record, and which path parameters its answer's fields name."""

    method: str
    path: str
    body: Any
    captures: dict[str, str]
    """Path parameter name → dotted field of the JSON answer (``attachments.0.id``)."""


_TICKET = {
    "subject": "Export fails",
    "description": "since 4.2",
    "priority": "high",
    "requester": {"email": "cy@customer.example", "name": "Cy"},
    "tags": ["exports"],
}
_AGENT = {
    "name": "ann",
    "email": "ann@acme.test",
    "skills": {"exports": 5},
    "capacity": {"api": 2},
    "presence": "available",
    "teams": ["tier1"],
    "languages": ["en"],
}
_POLICY = {
    "name": "Premium",
    "position": 0,
    "conditions": {"plans": ["premium"]},
    "calendar": {
        "name": "Berlin",
        "time_zone": "Europe/Berlin",
        "weekly_hours": {"0": [{"start": "09:00", "end": "17:00"}]},
    },
    "metrics": {"first_response": {"targets": {"high": 3600}}},
}
_SCHEDULE = {
    "cron": "0 9 1 * *",
    "time_zone": "Europe/Berlin",
    "ticket": {
        "subject": "Monthly check",
        "description": "Check backups",
        "requester_email": "ops@acme.test",
    },
}

SEEDS: dict[str, list[Seed]] = {
    "intake": [
        Seed("POST", "/v1/tickets", _TICKET, {"ticket_id": "id"}),
        Seed(
            "POST",
            "/v1/tickets/{ticket_id}/messages",
            {
                "body": "log attached",
                "attachments": [{"filename": "a.txt", "content_base64": "YQ=="}],
            },
            {"message_id": "id", "attachment_id": "attachments.0.id"},
        ),
        Seed(
            "POST",
            "/v1/organizations",
            {"name": "Customer Inc", "plan": "premium", "domains": ["customer.example"]},
            {"organization_id": "id"},
        ),
        Seed("POST", "/v1/requesters", {"email": "zoe@zed.example"}, {"requester_id": "id"}),
        Seed("POST", "/v1/domains", {"name": "acme.test"}, {"domain_id": "id"}),
        Seed("POST", "/v1/domains/{domain_id}/verify", NOT_SET, {}),
        Seed("POST", "/v1/mailboxes", {"address": "support@acme.test"}, {"mailbox_id": "id"}),
    ],
    "routing": [
        Seed("POST", "/v1/agents", _AGENT, {"agent_id": "id"}),
        Seed(
            "PUT",
            "/v1/routing/rules",
            {
                "rules": [
                    {
                        "id": "money",
                        "conditions": {"keywords": ["invoice"]},
                        "outcome": {"required_skills": {"billing": 3}},
                    }
                ]
            },
            {"version": "version"},
        ),
    ],
    "escalation": [
        Seed("PUT", "/v1/sla/policies/{policy_id}", _POLICY, {}),
        Seed("PUT", "/v1/preventive-schedules/{schedule_id}", _SCHEDULE, {}),
    ],
    "notify": [
        Seed(
            "POST",
            "/v1/webhook-endpoints",
            {"url": "https://hooks.example.com/in"},
            {"endpoint_id": "id"},
        ),
        Seed(
            "POST",
            "/v1/subscriptions",
            {
                "event_types": ["helpline.sla.*"],
                "roles": ["assignee"],
                "addresses": ["noc@acme.example"],
            },
            {"subscription_id": "id"},
        ),
        Seed("POST", "/v1/suppressions", {"address": "gone@acme.example"}, {}),
    ],
    "identity": [
        Seed(
            "POST",
            "/v1/tenants",
            {"tenant_id": "spare", "name": "Spare"},
            {"tenant_id": "tenant_id"},
        ),
        Seed("POST", "/v1/teams", {"team_id": "tier1", "name": "Tier 1"}, {"team_id": "team_id"}),
        Seed(
            "POST",
            "/v1/users",
            {
                "name": "Ann",
                "email": "ann@acme.test",
                "role": "agent",
                "teams": ["tier1"],
                "password": PASSWORD,
            },
            {"user_id": "user_id"},
        ),
        Seed(
            "POST", "/v1/api-keys", {"name": "spare", "scopes": ["tickets:read"]}, {"key_id": "id"}
        ),
    ],
}
"""Records made before fuzzing, so that path parameters can name things that exist."""

KNOWN: dict[str, dict[str, str]] = {
    "escalation": {"policy_id": "premium", "schedule_id": "monthly"},
    "notify": {
        "address": "gone@acme.example",
        "event_type": "helpline.ticket.created.v1",
        "language": "en",
    },
}
"""Path parameter values that exist without a captured answer."""


def field(document: Any, dotted: str) -> str:
    """The value at ``dotted`` (``attachments.0.id``) in a decoded JSON answer, as text."""
    for key in dotted.split("."):
        document = document[int(key)] if isinstance(document, list) else document[key]
    return str(document)

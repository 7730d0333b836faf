"""Builders shared by notify's unit tests: events, envelopes and a look into the outbox."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_notify.adapters.orm import metadata
from helpline_notify.adapters.rendering import JinjaRenderer
from helpline_notify.domain.model import Delivery
from helpline_notify.entrypoints import http
from helpline_notify.service_layer.emails import EmailComposer
from helpline_notify.service_layer.handlers import EmailPolicy, on_event
from helpline_notify.service_layer.unit_of_work import NotifyUnitOfWork
from helpline_shared.envelope import Envelope, from_record
from helpline_shared.events import Event, Requester, SlaBreached, TicketAssigned, TicketCreated
from helpline_shared.runtime.auth import CredentialVerifier
from helpline_shared.runtime.db import outbox_table
from helpline_shared.runtime.problems import install_problem_handlers
from helpline_shared.runtime.testing import stand_in_identity

TENANT = "acme"
OTHER_TENANT = "globex"
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

UnitOfWorkFactory = Callable[[], NotifyUnitOfWork]


async def published(engine: AsyncEngine) -> list[Envelope]:
    """Every event notify staged in its outbox, decoded, in order."""
    outbox = outbox_table(metadata)
    async with engine.connect() as connection:
        rows = await connection.execute(select(outbox).order_by(outbox.c.id))
        return [
            from_record([(name, value.encode()) for name, value in row.headers], row.record_value)
            for row in rows
        ]


def envelope_of(event: Event, event_id: str | None = None) -> Envelope:
    """The envelope a consumer would receive for ``event``."""
    return Envelope(
        id=event_id or str(uuid.uuid4()),
        source="/helpline/test",
        type=event.event_type,
        time=event.occurred_at,
        subject=event.ticket_id,
        event=event,
    )


def ticket_created(ticket_id: str, tenant_id: str = TENANT) -> TicketCreated:
    """A new ticket about a printer."""
    return TicketCreated(
        tenant_id=tenant_id,
        ticket_id=ticket_id,
        occurred_at=NOW,
        subject="Printer on fire",
        description="Smoke everywhere",
        requester=Requester(email="carol@example.com"),
        priority="high",
        type="corrective",
        channel="api",
    )


def ticket_assigned(ticket_id: str, tenant_id: str = TENANT) -> TicketAssigned:
    """The ticket given to agent Ann."""
    return TicketAssigned(
        tenant_id=tenant_id,
        ticket_id=ticket_id,
        occurred_at=NOW,
        agent_id="agent-ann",
        agent_name="Ann",
        agent_email="ann@example.com",
        channel="api",
        required_skills=("printers",),
        candidates_considered=3,
        reason="best printers skill",
    )


def sla_breached(ticket_id: str, tenant_id: str = TENANT) -> SlaBreached:
    """The first-response deadline of the ticket passed."""
    return SlaBreached(
        tenant_id=tenant_id,
        ticket_id=ticket_id,
        occurred_at=NOW,
        metric="first_response",
        deadline=NOW,
        clock_version=1,
        reason="no public reply within 1 h",
    )


def new_ticket_id() -> str:
    """A fresh ticket id."""
    return str(uuid.uuid4())


async def ledger(
    unit_of_work: UnitOfWorkFactory, ticket_id: str | None = None, tenant_id: str = TENANT
) -> list[Delivery]:
    """The tenant's deliveries (of one ticket), oldest first."""
    async with unit_of_work() as uow:
        return await uow.deliveries.page(tenant_id, ticket_id=ticket_id, limit=1000)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        """Move time forward."""
        self.now += delta


def composer() -> EmailComposer:
    """The email composer bootstrap builds, on the real Jinja renderer."""
    return EmailComposer(JinjaRenderer())


async def notify_of(
    envelope: Envelope,
    unit_of_work: UnitOfWorkFactory,
    escalation_email: str = "escalations@example.com",
    recipient_cap: int = 20,
) -> int:
    """Run notify's event handler on ``envelope``, as the Kafka subscriber does."""
    policy = EmailPolicy(
        escalation_email=escalation_email,
        email_domain="mail.acme.example",
        recipient_cap=recipient_cap,
    )
    return await on_event(envelope, unit_of_work(), policy, composer())


IDENTITY = stand_in_identity()


def api_app(unit_of_work: UnitOfWorkFactory, *, max_page_size: int = 50) -> FastAPI:
    """Notify's routes as bootstrap mounts them, with problem+json, trusting the stand-in."""
    app = FastAPI()
    app.state.verifier = CredentialVerifier(IDENTITY.url, IDENTITY.issuer)
    install_problem_handlers(app)
    for router in http.routers(
        http.ApiOptions(
            unit_of_work=unit_of_work,
            renderer=JinjaRenderer(),
            max_page_size=max_page_size,
            allow_private_networks=False,
            rotation_overlap=timedelta(hours=1),
            wake_worker=lambda: None,
        )
    ):
        app.include_router(router)
    return app

"""Builders for notify's tests of people and access: identity's events, the handler with a reply
token secret, apps that verify the stand-in identity's credentials, in-process clients."""

import uuid
from datetime import timedelta

import httpx
from fastapi import FastAPI
from notify_testkit import (
    NOW,
    TENANT,
    UnitOfWorkFactory,
    composer,
    envelope_of,
    new_ticket_id,
    notify_of,
)

from helpline_notify.adapters.rendering import JinjaRenderer
from helpline_notify.domain.model import Delivery
from helpline_notify.domain.subscriptions import Subscription
from helpline_notify.entrypoints import http
from helpline_notify.service_layer import tenant_settings
from helpline_notify.service_layer.handlers import EmailPolicy, on_event
from helpline_shared.events import (
    Event,
    Requester,
    TenantCreated,
    TicketCreated,
    UserCreated,
    UserDeactivated,
)
from helpline_shared.runtime.credentials import CredentialVerifier
from helpline_shared.runtime.problems import install_problem_handlers
from helpline_shared.runtime.testing import stand_in_identity

IDENTITY = stand_in_identity()

SECRET = "reply-token-secret-for-tests"
MAILBOX = "support@acme.example"
ESCALATIONS = "escalations@acme.example"
CUSTOMER = "carol@customer.example"
BREACHED = "helpline.sla.breached.v1"


def people_app(unit_of_work: UnitOfWorkFactory) -> FastAPI:
    """Notify's routes as bootstrap mounts them, trusting the stand-in identity's credentials."""
    app = FastAPI()
    app.state.verifier = CredentialVerifier(
        identity_url=IDENTITY.url, issuer=IDENTITY.issuer, audience=IDENTITY.audience
    )
    install_problem_handlers(app)
    for router in http.routers(
        http.ApiOptions(
            unit_of_work=unit_of_work,
            renderer=JinjaRenderer(),
            max_page_size=50,
            allow_private_networks=False,
            rotation_overlap=timedelta(hours=1),
            wake_worker=lambda: None,
        )
    ):
        app.include_router(router)
    return app


def client(app: FastAPI, credential: str) -> httpx.AsyncClient:
    """An in-process client presenting ``credential``."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://notify",
        headers={"authorization": f"Bearer {credential}"},
    )


def new_user_id() -> str:
    """An id as identity makes them."""
    return uuid.uuid4().hex


async def person_joined(
    unit_of_work: UnitOfWorkFactory,
    name: str,
    email: str,
    role: str = "agent",
    teams: tuple[str, ...] = (),
    tenant_id: str = TENANT,
) -> str:
    """Identity announces a new user to notify; return their id."""
    user_id = new_user_id()
    await notify_of(
        envelope_of(
            UserCreated(
                tenant_id=tenant_id,
                occurred_at=NOW,
                user_id=user_id,
                name=name,
                email=email,
                role=role,
                teams=teams,
            )
        ),
        unit_of_work,
    )  # type: ignore[arg-type]
    return user_id


async def person_left(
    unit_of_work: UnitOfWorkFactory, user_id: str, tenant_id: str = TENANT
) -> None:
    """Identity announces that a user was deactivated."""
    await notify_of(
        envelope_of(UserDeactivated(tenant_id=tenant_id, occurred_at=NOW, user_id=user_id)),
        unit_of_work,
    )


async def tenant_named(unit_of_work: UnitOfWorkFactory, name: str, tenant_id: str = TENANT) -> None:
    """Identity announces the tenant and its display name."""
    await notify_of(
        envelope_of(TenantCreated(tenant_id=tenant_id, occurred_at=NOW, name=name)), unit_of_work
    )


async def handle(unit_of_work: UnitOfWorkFactory, *events: Event, cap: int = 20) -> None:
    """Run notify's handler on each event as the subscriber does, with a reply token secret."""
    policy = EmailPolicy(
        escalation_email=ESCALATIONS,
        email_domain="acme.example",
        recipient_cap=cap,
        recipient_cap_window=timedelta(hours=1),
        reply_token_secret=SECRET,
        mail_from="Helpline <notifications@helpline.test>",
    )
    for event in events:
        await on_event(envelope_of(event), unit_of_work(), policy, composer())


def created(ticket_id: str) -> TicketCreated:
    """A ticket that came in by mail through the tenant's support mailbox."""
    return TicketCreated(
        tenant_id=TENANT,
        ticket_id=ticket_id,
        occurred_at=NOW,
        subject="Printer on fire",
        description="Smoke",
        requester=Requester(email=CUSTOMER, name="Carol"),
        priority="high",
        type="corrective",
        channel="email",
        mailbox=MAILBOX,
    )


async def subscribe(unit_of_work: UnitOfWorkFactory, event_type: str, *roles: str) -> None:
    """The tenant's email subscription of ``roles`` to ``event_type``."""
    await tenant_settings.add_subscription(
        Subscription(
            id=new_ticket_id(),
            tenant_id=TENANT,
            event_types=(event_type,),
            channel="email",
            roles=roles,
            created_at=NOW,
        ),
        unit_of_work(),
    )  # type: ignore[arg-type]


def mailed(deliveries: list[Delivery], event_type: str) -> dict[str, Delivery]:
    """The email deliveries of one event type by address."""
    return {
        d.destination: d
        for d in deliveries
        if d.channel == "email" and d.trigger_event_type == event_type
    }

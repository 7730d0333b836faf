"""Builders for notify's tests of people and access: identity's events, apps that verify the
stand-in identity's credentials, in-process clients."""

import uuid
from datetime import timedelta

import httpx
from fastapi import FastAPI
from notify_testkit import NOW, TENANT, UnitOfWorkFactory, envelope_of, notify_of

from helpline_notify.adapters.rendering import JinjaRenderer
from helpline_notify.entrypoints import http
from helpline_shared.events import TenantCreated, UserCreated, UserDeactivated
from helpline_shared.runtime.credentials import CredentialVerifier
from helpline_shared.runtime.problems import install_problem_handlers
from helpline_shared.runtime.testing import stand_in_identity

IDENTITY = stand_in_identity()


def people_app(unit_of_work: UnitOfWorkFactory) -> FastAPI:
    """Notify's routes as bootstrap mounts them, trusting the stand-in identity's credentials."""
    app = FastAPI()
    app.state.verifier = CredentialVerifier(identity_url=IDENTITY.url, issuer=IDENTITY.issuer,
                                            audience=IDENTITY.audience)
    install_problem_handlers(app)
    for router in http.routers(http.ApiOptions(
            unit_of_work=unit_of_work, renderer=JinjaRenderer(), max_page_size=50,
            allow_private_networks=False, rotation_overlap=timedelta(hours=1),
            wake_worker=lambda: None)):
        app.include_router(router)
    return app


def client(app: FastAPI, credential: str) -> httpx.AsyncClient:
    """An in-process client presenting ``credential``."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notify",
                             headers={"authorization": f"Bearer {credential}"})


def new_user_id() -> str:
    """An id as identity makes them."""
    return uuid.uuid4().hex


async def person_joined(unit_of_work: UnitOfWorkFactory, name: str, email: str,
                        role: str = "agent", teams: tuple[str, ...] = (),
                        tenant_id: str = TENANT) -> str:
    """Identity announces a new user to notify; return their id."""
    user_id = new_user_id()
    await notify_of(envelope_of(UserCreated(
        tenant_id=tenant_id, occurred_at=NOW, user_id=user_id, name=name, email=email,
        role=role, teams=teams)), unit_of_work)  # type: ignore[arg-type]
    return user_id


async def person_left(unit_of_work: UnitOfWorkFactory, user_id: str,
                      tenant_id: str = TENANT) -> None:
    """Identity announces that a user was deactivated."""
    await notify_of(envelope_of(UserDeactivated(tenant_id=tenant_id, occurred_at=NOW,
                                                user_id=user_id)), unit_of_work)


async def tenant_named(unit_of_work: UnitOfWorkFactory, name: str,
                       tenant_id: str = TENANT) -> None:
    """Identity announces the tenant and its display name."""
    await notify_of(envelope_of(TenantCreated(tenant_id=tenant_id, occurred_at=NOW, name=name)),
                    unit_of_work)

"""Test helpers of identity: a moving clock and a client that knows the routes."""

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_identity.bootstrap import api
from helpline_identity.config import IdentitySettings
from helpline_identity.entrypoints.http import install_error_handler
from helpline_identity.service_layer.unit_of_work import IdentityUnitOfWork
from helpline_shared.runtime.problems import install_problem_handlers

UnitOfWorkFactory = Callable[[], IdentityUnitOfWork]
OPERATOR_KEY = "operator-key-for-tests-0123456789abcdef"
PASSWORD = "correct horse battery staple"
ISSUER = "http://identity.test"


class Clock:
    """The current time, real unless moved on."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        """Move the time on."""
        self.offset += timedelta(**delta)


def settings(**overrides: Any) -> IdentitySettings:
    """Identity's settings for tests: a known operator key and issuer."""
    values: dict[str, Any] = {
        "operator_key_sha256": SecretStr(hashlib.sha256(OPERATOR_KEY.encode()).hexdigest()),
        "issuer": ISSUER,
        "signing_key_publish_lead": 0,
        **overrides,
    }
    return IdentitySettings(**values)


def bearer(token: str) -> dict[str, str]:
    """An Authorization header."""
    return {"Authorization": f"Bearer {token}"}


class IdentityApi:
    """Identity's HTTP API as the tests call it."""

    def __init__(self, client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock) -> None:
        self.client = client
        self.engine = engine
        self.clock = clock
        self.admin = ""

    @staticmethod
    def app(unit_of_work: UnitOfWorkFactory, clock: Clock, **overrides: Any) -> FastAPI:
        """Identity's routes and error handling, as bootstrap wires them, without Kafka."""
        app = FastAPI()
        install_problem_handlers(app)
        app.include_router(api(settings(**overrides), unit_of_work, clock))
        install_error_handler(app, unit_of_work)
        return app

    async def create_tenant(self, tenant_id: str, *, admin_email: str) -> None:
        """Create a tenant with an admin whose password is ``PASSWORD``."""
        response = await self.client.post(
            "/v1/tenants",
            headers=bearer(OPERATOR_KEY),
            json={
                "tenant_id": tenant_id,
                "name": tenant_id.title(),
                "admin": {"name": "Root", "email": admin_email, "password": PASSWORD},
            },
        )
        assert response.status_code == 201, response.text

    async def login(self, tenant: str, email: str, password: str = PASSWORD) -> str:
        """An access token of the person."""
        response = await self.client.post(
            "/v1/login", json={"tenant": tenant, "email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    async def create_user(
        self, email: str, role: str = "agent", teams: tuple[str, ...] = (), token: str | None = None
    ) -> dict[str, Any]:
        """Create a person with ``PASSWORD`` as the admin (or ``token``)."""
        response = await self.client.post(
            "/v1/users",
            headers=bearer(token or self.admin),
            json={
                "name": email.split("@")[0],
                "email": email,
                "role": role,
                "teams": list(teams),
                "password": PASSWORD,
            },
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def create_key(self, *scopes: str, **extra: Any) -> dict[str, Any]:
        """Create an API key as the admin."""
        response = await self.client.post(
            "/v1/api-keys",
            headers=bearer(self.admin),
            json={"name": "ci", "scopes": list(scopes), **extra},
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

"""Routing's API in process for the workspace's calls: offers, agents, reports, presence events.

Credentials come from the stand-in identity (real signed tokens and keys).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from routing_support import Database, Factory
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_routing.adapters.orm import metadata
from helpline_routing.bootstrap import MIGRATIONS
from helpline_routing.entrypoints import http_admin, http_agents, http_reports, http_tickets
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared.events import AgentPresenceChanged
from helpline_shared.runtime.credentials import CredentialVerifier
from helpline_shared.runtime.problems import install_problem_handlers
from helpline_shared.runtime.testing import (
    outbox_events,
    sqlite_units_of_work,
    stand_in_identity,
)

IDENTITY = stand_in_identity()


def bearer(token: str) -> dict[str, str]:
    """The header presenting ``token``."""
    return {"Authorization": f"Bearer {token}"}


ADMIN = bearer(IDENTITY.person("acme", "admin", "root"))
ANN = bearer(IDENTITY.person("acme", "agent", "ann", teams=("tier1",)))
BOB = bearer(IDENTITY.person("acme", "agent", "bob", teams=("tier1",)))
NOBODY = bearer(IDENTITY.person("acme", "agent", "nobody", teams=("tier1",)))
LEAD = bearer(IDENTITY.person("acme", "lead", "lee", teams=("tier1",)))
READ_KEY = bearer(IDENTITY.api_key("acme", ("tickets:read",)))
REPORTS_KEY = bearer(IDENTITY.api_key("acme", ("reports:read",)))
GLOBEX_ADMIN = bearer(IDENTITY.person("globex", "admin", "gail"))
GLOBEX_AGENT = bearer(IDENTITY.person("globex", "agent", "gus"))


class Routing:
    """Routing's API in process, its units of work and its outbox."""

    def __init__(self, client: httpx.AsyncClient, uow: Factory, engine: AsyncEngine) -> None:
        self.client = client
        self.uow = uow
        self.engine = engine

    async def agent(
        self,
        name: str,
        user_id: str | None,
        teams: tuple[str, ...] = ("tier1",),
        headers: dict[str, str] = ADMIN,
        **extra: Any,
    ) -> dict[str, Any]:
        """Register an agent through the API (as the tenant's admin); return it."""
        response = await self.client.post(
            "/v1/agents",
            headers=headers,
            json={
                "name": name,
                "email": f"{name}@acme.test",
                "skills": {"exports": 5},
                "capacity": {"api": 2, "email": 1},
                "presence": "available",
                "teams": list(teams),
                "user_id": user_id,
                **extra,
            },
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def manual_acceptance(self, headers: dict[str, str] = ADMIN) -> None:
        """Make the tenant of ``headers`` offer tickets instead of assigning them."""
        response = await self.client.put(
            "/v1/routing/settings", headers=headers, json={"manual_acceptance": True}
        )
        assert response.status_code == 200, response.text

    async def presence_events(self) -> list[AgentPresenceChanged]:
        """Every AgentPresenceChanged in the outbox, oldest first."""
        return [
            e.event
            for e in await outbox_events(self.engine, metadata)
            if isinstance(e.event, AgentPresenceChanged)
        ]


@asynccontextmanager
async def routing_api(tmp_path: Path) -> AsyncIterator[Routing]:
    """Routing's routers on a migrated SQLite database, called through httpx."""
    async with (
        sqlite_units_of_work(
            tmp_path / "routing.db", MIGRATIONS, metadata, RoutingUnitOfWork
        ) as database,
        routing_api_on(database) as routing,
    ):
        yield routing


@asynccontextmanager
async def routing_api_on(database: Database) -> AsyncIterator[Routing]:
    """Routing's routers on ``database`` (SQLite or PostgreSQL), called through httpx."""
    unit_of_work, engine = database
    app = FastAPI()
    app.state.verifier = CredentialVerifier(
        identity_url=IDENTITY.url, issuer=IDENTITY.issuer, audience=IDENTITY.audience
    )
    install_problem_handlers(app)
    for module in (http_agents, http_admin, http_tickets, http_reports):
        app.include_router(module.router(unit_of_work))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://routing") as client:
        yield Routing(client, unit_of_work, engine)

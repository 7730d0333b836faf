"""Every GET of escalation's API reads on a read-only connection: it never takes SQLite's write
lock (no BEGIN IMMEDIATE), so reading never queues behind the consumer's batches."""

from datetime import timedelta

import httpx
from escalation_support import UnitOfWorkFactory, envelope_of, ticket_created
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_escalation.domain.policy import DEFAULT_FIRST_RESPONSE_TARGETS
from helpline_escalation.entrypoints import http, http_preventive, http_reports
from helpline_escalation.service_layer import handlers
from helpline_shared.runtime.auth import CredentialVerifier
from helpline_shared.runtime.problems import install_problem_handlers
from helpline_shared.runtime.testing import StatementLog, stand_in_identity

IDENTITY = stand_in_identity()


async def test_no_get_route_begins_a_write_transaction(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    app = FastAPI()
    app.state.verifier = CredentialVerifier(IDENTITY.url, IDENTITY.issuer)
    install_problem_handlers(app)
    app.include_router(http.router(unit_of_work))
    app.include_router(http_reports.router(unit_of_work))
    app.include_router(http_preventive.router(unit_of_work, timedelta(hours=1)))
    await handlers.on_ticket_event(
        envelope_of(ticket_created("t-1")), unit_of_work(), DEFAULT_FIRST_RESPONSE_TARGETS
    )
    reader = {"Authorization": f"Bearer {IDENTITY.api_key('acme', ('tickets:read',))}"}
    reports = {"Authorization": f"Bearer {IDENTITY.api_key('acme', ('reports:read',))}"}
    admin = {"Authorization": f"Bearer {IDENTITY.person('acme', 'admin', 'root')}"}
    log = StatementLog(engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://escalation") as client:
        for path, headers in [
            ("/v1/tickets/t-1/sla", reader),
            ("/v1/sla/policies", admin),
            ("/v1/reports/sla", reports),
            ("/v1/preventive-schedules", admin),
        ]:
            response = await client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.text)
    assert log.count("SELECT") >= 4
    assert log.count("BEGIN IMMEDIATE") == 0

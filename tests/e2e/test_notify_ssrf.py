"""SSRF guard at delivery time: forbidden destinations are refused before any connection.

The endpoints are stored directly (as if their host had resolved elsewhere when registered), so the
check under test is the one made on every attempt, after DNS resolution. The event loop records
connection attempts: it must see none.
"""

from collections.abc import AsyncIterator

import pytest
from notify_rig import (
    TENANT,
    NotifyRig,
    migrated_engine,
    new_ticket_id,
    recorded_connections,
    ticket_assigned,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_devstack.postgres import PostgresServer
from helpline_notify.domain.errors import InvalidWebhookUrl
from helpline_notify.domain.model import WebhookEndpoint, new_id, new_webhook_secret
from helpline_notify.service_layer import endpoints
from helpline_shared.runtime.db import utcnow

REFUSED = {
    "http://10.1.2.3/hook": "a private address",
    "http://172.16.0.9/hook": "a private address",
    "http://192.168.1.20/hook": "a private address",
    "http://127.0.0.1:8080/hook": "a loopback address",
    "http://169.254.169.254/latest/meta-data": "a cloud metadata address",
    "http://[::1]/hook": "a loopback address",
    "http://100.64.0.7/hook": "a carrier-grade NAT address",
    "http://localhost:9/hook": "a loopback address",  # a DNS name resolving to a private address
}


pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(postgres: PostgresServer) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(postgres) as engine:
        yield engine


async def test_forbidden_destinations_are_refused_at_delivery_with_the_reason_recorded(
    engine: AsyncEngine,
) -> None:
    rig = NotifyRig(engine, allow_private_networks=False)
    by_endpoint: dict[str, str] = {}
    async with rig.unit_of_work() as uow:
        for url in REFUSED:
            endpoint = WebhookEndpoint(
                id=new_id(),
                tenant_id=TENANT,
                url=url,
                secret=new_webhook_secret(),
                event_types=("*",),
                enabled=True,
                created_at=utcnow(),
            )
            await uow.endpoints.add(endpoint)
            by_endpoint[endpoint.id] = url
        await uow.commit()
    ticket_id = new_ticket_id()
    await rig.emit(ticket_assigned(ticket_id))

    with recorded_connections() as connections:
        await rig.worker.deliver_due()
    await rig.aclose()

    webhooks = [d for d in await rig.deliveries(ticket_id) if d.channel == "webhook"]
    assert len(webhooks) == len(REFUSED)
    for delivery in webhooks:
        url = by_endpoint[delivery.destination]
        assert delivery.last_error == f"refused: the host resolves to {REFUSED[url]}", url
        async with rig.unit_of_work() as uow:
            [attempt] = await uow.deliveries.attempts(TENANT, delivery.id)
        assert attempt.outcome == "failed" and attempt.status_code is None
        assert attempt.detail == delivery.last_error
    assert connections == [], "no connection to a forbidden address was even tried"


async def test_literal_forbidden_addresses_are_refused_at_registration(
    engine: AsyncEngine,
) -> None:
    rig = NotifyRig(engine, allow_private_networks=False)
    for url in REFUSED:
        if "localhost" in url:
            continue
        with pytest.raises(InvalidWebhookUrl):
            await endpoints.register_webhook_endpoint(
                endpoints.RegisterWebhookEndpoint(
                    tenant_id=TENANT,
                    url=url,
                    event_types=("*",),
                    allow_private_networks=False,
                ),
                rig.unit_of_work(),
            )
    await rig.aclose()

"""The webhook-endpoint and delivery-ledger API, tenant by tenant."""

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from notify_testkit import (
    IDENTITY,
    OTHER_TENANT,
    TENANT,
    UnitOfWorkFactory,
    api_app,
    envelope_of,
    new_ticket_id,
    notify_of,
    published,
    ticket_assigned,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_shared.events import NotificationFailed
from helpline_shared.runtime.db import utcnow


def bearer(tenant_id: str, *scopes: str) -> dict[str, str]:
    # Webhook endpoints are admin-only (docs/permissions.md): an admin key unless told otherwise.
    token = IDENTITY.api_key(tenant_id, scopes or ("tickets:read", "tickets:write", "admin"))
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
async def api(unit_of_work: UnitOfWorkFactory) -> AsyncIterator[httpx.AsyncClient]:
    app = api_app(unit_of_work, max_page_size=2)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://notify"
    ) as client:
        yield client


async def test_created_endpoint_returns_its_secret_once(api: httpx.AsyncClient) -> None:
    created = await api.post(
        "/v1/webhook-endpoints",
        headers=bearer(TENANT, "admin"),
        json={
            "url": "https://hooks.example.com/in",
            "event_types": ["helpline.ticket.assigned.v1"],
        },
    )

    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert (body["url"], body["event_types"], body["enabled"]) == (
        "https://hooks.example.com/in",
        ["helpline.ticket.assigned.v1"],
        True,
    )
    listed = (await api.get("/v1/webhook-endpoints", headers=bearer(TENANT))).json()
    assert [item["id"] for item in listed] == [body["id"]]
    assert "secret" not in listed[0]


async def test_tenants_see_only_their_own_endpoints(api: httpx.AsyncClient) -> None:
    mine = (
        await api.post(
            "/v1/webhook-endpoints",
            headers=bearer(TENANT),
            json={"url": "https://hooks.example.com/in"},
        )
    ).json()

    assert (await api.get("/v1/webhook-endpoints", headers=bearer(OTHER_TENANT))).json() == []
    stranger = await api.get(f"/v1/webhook-endpoints/{mine['id']}", headers=bearer(OTHER_TENANT))
    assert stranger.status_code == 404
    assert stranger.headers["content-type"] == "application/problem+json"
    own = await api.get(f"/v1/webhook-endpoints/{mine['id']}", headers=bearer(TENANT))
    assert own.status_code == 200 and own.json()["event_types"] == ["*"]


async def test_creating_an_endpoint_needs_write_scope(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/webhook-endpoints",
        headers=bearer(TENANT, "tickets:read"),
        json={"url": "https://hooks.example.com/in"},
    )
    assert response.status_code == 403
    assert (await api.get("/v1/webhook-endpoints")).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://169.254.169.254/latest"}, "url"),
        ({"url": "ftp://hooks.example.com/in"}, "url"),
        (
            {"url": "https://hooks.example.com/in", "event_types": ["helpline.nope.v1"]},
            "event_types",
        ),
        ({"url": "https://hooks.example.com/in", "event_types": []}, "event_types"),
    ],
)
async def test_unusable_endpoints_are_rejected(
    api: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await api.post("/v1/webhook-endpoints", headers=bearer(TENANT), json=body)
    assert response.status_code == 422
    assert field in response.text


async def test_ledger_lists_the_tenants_deliveries_page_by_page(
    api: httpx.AsyncClient,
    unit_of_work: UnitOfWorkFactory,
) -> None:
    ticket_id, other_ticket = new_ticket_id(), new_ticket_id()
    await api.post(
        "/v1/webhook-endpoints",
        headers=bearer(TENANT),
        json={"url": "https://hooks.example.com/in"},
    )
    for event in (
        ticket_assigned(ticket_id),
        ticket_assigned(other_ticket),
        ticket_assigned(new_ticket_id(), OTHER_TENANT),
    ):
        await notify_of(envelope_of(event), unit_of_work)

    first = (
        await api.get("/v1/deliveries", params={"ticket_id": ticket_id}, headers=bearer(TENANT))
    ).json()
    assert len(first["items"]) == 2 and first["next_cursor"] is None
    assert {item["channel"] for item in first["items"]} == {"email", "webhook"}
    assert all(item["status"] == "pending" for item in first["items"])

    everything, cursor = [], None
    while True:
        page = (
            await api.get(
                "/v1/deliveries",
                params={"cursor": cursor} if cursor else {},
                headers=bearer(TENANT),
            )
        ).json()
        everything += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    assert sorted(item["ticket_id"] for item in everything) == sorted(
        [ticket_id, ticket_id, other_ticket, other_ticket]
    )
    stranger = await api.get(
        "/v1/deliveries", params={"ticket_id": ticket_id}, headers=bearer(OTHER_TENANT)
    )
    assert stranger.json()["items"] == []


async def test_an_admin_cancels_a_pending_delivery_for_good(
    api: httpx.AsyncClient,
    unit_of_work: UnitOfWorkFactory,
    engine: AsyncEngine,
) -> None:
    ticket_id = new_ticket_id()
    await notify_of(envelope_of(ticket_assigned(ticket_id)), unit_of_work)
    [pending] = (
        await api.get("/v1/deliveries", params={"ticket_id": ticket_id}, headers=bearer(TENANT))
    ).json()["items"]
    path = f"/v1/deliveries/{pending['id']}/cancel"

    assert (await api.post(path, headers=bearer(TENANT, "tickets:write"))).status_code == 403
    assert (await api.post(path, headers=bearer(OTHER_TENANT, "admin"))).status_code == 404
    foreign = await api.get(f"/v1/deliveries/{pending['id']}", headers=bearer(OTHER_TENANT))
    assert foreign.status_code == 404
    cancelled = await api.post(path, headers=bearer(TENANT, "admin"))

    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["last_error"]) == (
        "failed",
        "cancelled by operator",
    )
    shown = (await api.get(f"/v1/deliveries/{pending['id']}", headers=bearer(TENANT))).json()
    assert (shown["status"], shown["next_attempt_at"]) == ("failed", None)
    again = await api.post(path, headers=bearer(TENANT, "admin"))
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert "it is failed" in again.json()["detail"]
    [event] = [e.event for e in await published(engine)]
    assert isinstance(event, NotificationFailed)
    assert (event.notification_id, event.error, event.will_retry, event.attempt) == (
        pending["id"],
        "cancelled by operator",
        False,
        1,
    )
    async with unit_of_work() as uow:
        due = await uow.deliveries.claim_due(
            utcnow() + timedelta(days=3), utcnow() + timedelta(days=4), 10
        )
    assert due == []

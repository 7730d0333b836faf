"""Managing endpoints, subscriptions, templates and suppressions over the API."""

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from notify_testkit import IDENTITY, NOW, OTHER_TENANT, TENANT, UnitOfWorkFactory, api_app
from standardwebhooks import Webhook

from helpline_notify.domain.subscriptions import Filters, Subscription, new_subscription_id


def bearer(tenant_id: str = TENANT) -> dict[str, str]:
    token = IDENTITY.api_key(tenant_id, ("tickets:read", "tickets:write", "admin"))
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
async def api(unit_of_work: UnitOfWorkFactory) -> AsyncIterator[httpx.AsyncClient]:
    app = api_app(unit_of_work, max_page_size=50)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://notify", headers=bearer()
    ) as client:
        yield client


async def create_endpoint(api: httpx.AsyncClient, **extra: object) -> dict[str, object]:
    response = await api.post(
        "/v1/webhook-endpoints",
        json={"url": "https://hooks.example.com/in", "event_types": ["helpline.sla.*"], **extra},
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def test_endpoint_lifecycle_update_rotate_disable_delete(api: httpx.AsyncClient) -> None:
    created = await create_endpoint(
        api, ordered=True, owner_email="ops@partner.example", filters={"priority": ["urgent"]}
    )
    path = f"/v1/webhook-endpoints/{created['id']}"
    assert Webhook(str(created["secret"]))  # a valid whsec_ secret

    changed = await api.patch(
        path, json={"url": "https://hooks.example.com/v2", "event_types": ["*"]}
    )
    assert changed.status_code == 200 and changed.json()["url"].endswith("/v2")
    assert changed.json()["ordered"] is True
    assert changed.json()["filters"]["priority"] == ["urgent"]

    rotated = await api.post(path + "/rotate-secret")
    assert rotated.status_code == 200 and rotated.json()["secret"] != created["secret"]

    disabled = await api.post(path + "/disable")
    assert disabled.json()["enabled"] is False
    assert (await api.patch(path, json={"enabled": True})).json()["enabled"] is True

    assert (await api.get(path, headers=bearer(OTHER_TENANT))).status_code == 404
    assert (await api.delete(path)).status_code == 204
    assert (await api.get(path)).status_code == 404


async def test_bad_endpoint_input_is_a_problem_naming_the_field(api: httpx.AsyncClient) -> None:
    unknown = await api.post(
        "/v1/webhook-endpoints",
        json={"url": "https://hooks.example.com/in", "event_types": ["helpline.nope.*"]},
    )
    assert unknown.status_code == 422 and "event_types" in unknown.json()["detail"]
    private = await api.post("/v1/webhook-endpoints", json={"url": "http://10.0.0.1/in"})
    assert private.status_code == 422 and private.json()["detail"].startswith("url:")


async def test_subscriptions_are_created_listed_and_deleted_per_tenant(
    api: httpx.AsyncClient,
) -> None:
    created = await api.post(
        "/v1/subscriptions",
        json={
            "event_types": ["helpline.sla.*"],
            "roles": ["assignee", "team_lead"],
            "addresses": ["noc@acme.example"],
            "filters": {"priority": ["urgent", "high"]},
        },
    )
    assert created.status_code == 201, created.text
    assert [s["id"] for s in (await api.get("/v1/subscriptions")).json()] == [created.json()["id"]]
    assert (await api.get("/v1/subscriptions", headers=bearer(OTHER_TENANT))).json() == []
    empty = await api.post("/v1/subscriptions", json={"event_types": ["helpline.sla.*"]})
    assert empty.status_code == 422 and "recipients" in empty.json()["detail"]
    webhook = await api.post(
        "/v1/subscriptions",
        json={"event_types": ["*"], "channel": "webhook", "endpoint_ids": ["nope"]},
    )
    assert webhook.status_code == 422 and "endpoint_ids" in webhook.json()["detail"]
    assert (await api.delete(f"/v1/subscriptions/{created.json()['id']}")).status_code == 204


async def test_templates_are_checked_stored_and_listed_before_the_defaults(
    api: httpx.AsyncClient,
) -> None:
    path = "/v1/templates/helpline.ticket.created.v1/de"
    broken = await api.put(path, json={"subject": "{% if %}", "text": "x"})
    assert broken.status_code == 422 and broken.json()["detail"].startswith("subject:")
    stored = await api.put(
        path,
        json={"subject": "Danke: {{ ticket.subject }}", "text": "Hallo", "html": "<p>Hallo</p>"},
    )
    assert stored.status_code == 204
    listed = (await api.get("/v1/templates")).json()
    assert (listed[0]["language"], listed[0]["default"]) == ("de", False)
    assert any(t["default"] and t["event_type"] == "helpline.sla.escalated.v1" for t in listed)
    assert (await api.delete(path)).status_code == 204


async def test_suppressions_can_be_added_listed_and_lifted(api: httpx.AsyncClient) -> None:
    added = await api.post("/v1/suppressions", json={"address": "Bob@Example.com"})
    assert added.status_code == 204
    assert [s["address"] for s in (await api.get("/v1/suppressions")).json()] == ["bob@example.com"]
    assert (await api.delete("/v1/suppressions/bob@example.com")).status_code == 204
    assert (await api.get("/v1/suppressions")).json() == []


@pytest.mark.parametrize("character", ["\x00", "\x01", "\r", "\u202e"])
@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/v1/webhook-endpoints", {"url": "https://hooks.example.com/{c}in"}, "url"),
        (
            "POST",
            "/v1/webhook-endpoints",
            {"url": "https://hooks.example.com/in", "owner_email": "ops{c}@partner.example"},
            "owner_email",
        ),
        (
            "POST",
            "/v1/subscriptions",
            {"event_types": ["helpline.sla.*"], "addresses": ["noc{c}@acme.example"]},
            "addresses",
        ),
        (
            "POST",
            "/v1/subscriptions",
            {
                "event_types": ["helpline.sla.*"],
                "roles": ["assignee"],
                "filters": {"team": ["a{c}"]},
            },
            "team",
        ),
        ("POST", "/v1/suppressions", {"address": "bob{c}@example.com"}, "address"),
        ("POST", "/v1/suppressions", {"address": "bob@example.com", "reason": "x{c}"}, "reason"),
    ],
)
async def test_control_and_bidi_characters_are_refused_naming_the_field(
    api: httpx.AsyncClient,
    method: str,
    path: str,
    body: dict[str, object],
    field: str,
    character: str,
) -> None:
    poisoned = json.loads(json.dumps(body).replace("{c}", json.dumps(character)[1:-1]))
    response = await api.request(method, path, json=poisoned)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.text


async def test_changing_an_endpoint_refuses_control_characters_but_clears_the_owner(
    api: httpx.AsyncClient,
) -> None:
    created = await create_endpoint(api, owner_email="ops@partner.example")
    path = f"/v1/webhook-endpoints/{created['id']}"
    assert (
        await api.patch(path, json={"url": "https://hooks.example.com/\x00"})
    ).status_code == 422
    assert (
        await api.patch(path, json={"owner_email": "o\u202eps@partner.example"})
    ).status_code == 422
    cleared = await api.patch(path, json={"owner_email": ""})
    assert cleared.status_code == 200 and cleared.json()["owner_email"] is None


@pytest.mark.parametrize(
    "path",
    [
        "/v1/webhook-endpoints/a%00b",
        "/v1/deliveries/a%00b/attempts",
        "/v1/suppressions/bob%00@example.com",
        "/v1/subscriptions/a%E2%80%AEb",
    ],
)
async def test_a_control_character_in_a_path_is_a_problem_not_a_database_error(
    api: httpx.AsyncClient,
    path: str,
) -> None:
    method = "DELETE" if "/suppressions/" in path or "/subscriptions/" in path else "GET"
    response = await api.request(method, path)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_rows_stored_under_older_rules_still_list(
    api: httpx.AsyncClient,
    unit_of_work: UnitOfWorkFactory,
) -> None:
    async with unit_of_work() as uow:
        await uow.subscriptions.add(
            Subscription(
                id=new_subscription_id(),
                tenant_id=TENANT,
                event_types=("helpline.sla.*",),
                channel="email",
                filters=Filters.of({"team": ["ops\x01"]}),
                roles=(),
                addresses=("noc\x01@acme.example",),
                endpoint_ids=(),
                created_at=NOW,
            )
        )
        await uow.suppressions.add(TENANT, "old\x01@acme.example", "x\x1b", NOW)
        await uow.commit()

    subscriptions = await api.get("/v1/subscriptions")
    assert subscriptions.status_code == 200
    assert subscriptions.json()[0]["addresses"] == ["noc\x01@acme.example"]
    assert (await api.get("/v1/suppressions")).status_code == 200

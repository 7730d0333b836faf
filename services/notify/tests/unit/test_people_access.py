"""Who may manage notify (the permission matrix of docs/permissions.md) and who may make whom
watch a ticket, with the stand-in identity's real credentials."""

from notify_people_kit import IDENTITY, client, new_user_id, people_app, person_joined, person_left
from notify_testkit import TENANT, UnitOfWorkFactory, new_ticket_id

ENDPOINT = {"url": "https://hooks.example.com/in"}
SUBSCRIPTION = {"event_types": ["*"], "channel": "email", "addresses": ["audit@example.com"]}
TEMPLATE = {"subject": "{{ token }} Hi", "text": "Hello"}
ASSIGNED = "helpline.ticket.assigned.v1"


async def test_an_agent_cannot_export_events_through_endpoints_or_subscriptions(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    app = people_app(unit_of_work)
    async with client(app, IDENTITY.person(TENANT, "agent", new_user_id())) as agent:
        assert (await agent.post("/v1/webhook-endpoints", json=ENDPOINT)).status_code == 403
        assert (await agent.post("/v1/subscriptions", json=SUBSCRIPTION)).status_code == 403
        assert (await agent.get("/v1/webhook-endpoints")).status_code == 403
        assert (await agent.get("/v1/subscriptions")).status_code == 403
    writer_key = IDENTITY.api_key(TENANT, ("tickets:read", "tickets:write"))
    async with client(app, writer_key) as integration:
        refused = await integration.post("/v1/subscriptions", json=SUBSCRIPTION)
        assert refused.status_code == 403, "exporting every event is admin-only"
        assert "subscriptions.manage" in refused.json()["detail"]
    async with client(app, IDENTITY.person(TENANT, "admin", new_user_id())) as admin:
        assert (await admin.post("/v1/webhook-endpoints", json=ENDPOINT)).status_code == 201
        assert (await admin.post("/v1/subscriptions", json=SUBSCRIPTION)).status_code == 201


async def test_templates_suppressions_and_deliveries_follow_the_matrix(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    app = people_app(unit_of_work)
    async with client(app, IDENTITY.person(TENANT, "agent", new_user_id())) as agent:
        assert (await agent.get("/v1/deliveries")).status_code == 200
        assert (await agent.get("/v1/templates")).status_code == 403
        assert (await agent.get("/v1/suppressions")).status_code == 403
        assert (await agent.post("/v1/deliveries/d-1/resend")).status_code == 403
    async with client(app, IDENTITY.person(TENANT, "lead", new_user_id())) as lead:
        assert (await lead.get("/v1/templates")).status_code == 200
        assert (await lead.put(f"/v1/templates/{ASSIGNED}/en", json=TEMPLATE)).status_code == 403
        assert (await lead.get("/v1/suppressions")).status_code == 200
        assert (await lead.post("/v1/deliveries/d-1/resend")).status_code == 404
        assert (await lead.post("/v1/deliveries/d-1/cancel")).status_code == 403
    async with client(app, IDENTITY.person(TENANT, "admin", new_user_id())) as admin:
        assert (await admin.put(f"/v1/templates/{ASSIGNED}/en", json=TEMPLATE)).status_code == 204
        assert (await admin.post("/v1/deliveries/d-1/cancel")).status_code == 404


async def test_an_agent_watches_a_ticket_only_for_themselves(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    app = people_app(unit_of_work)
    ann = await person_joined(unit_of_work, "Ann Agent", "ann@acme.example")
    bob = await person_joined(unit_of_work, "Bob Agent", "bob@acme.example")
    ticket_id = new_ticket_id()
    watchers = f"/v1/tickets/{ticket_id}/watchers"
    async with client(app, IDENTITY.person(TENANT, "agent", ann)) as as_ann:
        assert (await as_ann.post(watchers, json={"user_id": ann})).status_code == 204
        refused = await as_ann.post(watchers, json={"user_id": bob})
        assert refused.status_code == 403, refused.text
        assert "user_id" in refused.json()["detail"]
        assert [w["user_id"] for w in (await as_ann.get(watchers)).json()] == [ann]
    async with client(app, IDENTITY.person(TENANT, "lead", new_user_id())) as lead:
        assert (await lead.post(watchers, json={"user_id": bob})).status_code == 204
    async with client(app, IDENTITY.person(TENANT, "agent", ann)) as as_ann:
        assert (await as_ann.delete(f"{watchers}/{bob}")).status_code == 403
        assert (await as_ann.delete(f"{watchers}/{ann}")).status_code == 204
        assert (await as_ann.delete(f"{watchers}/{ann}")).status_code == 404
        listed = (await as_ann.get(watchers)).json()
    assert [(w["user_id"], w["name"], w["email"]) for w in listed] == [
        (bob, "Bob Agent", "bob@acme.example")
    ]


async def test_only_an_active_user_of_the_tenant_can_watch(unit_of_work: UnitOfWorkFactory) -> None:
    app = people_app(unit_of_work)
    gone = await person_joined(unit_of_work, "Gone Agent", "gone@acme.example")
    await person_left(unit_of_work, gone)
    foreign = await person_joined(
        unit_of_work, "Globex Agent", "g@globex.example", tenant_id="globex"
    )
    watchers = f"/v1/tickets/{new_ticket_id()}/watchers"
    async with client(app, IDENTITY.person(TENANT, "admin", new_user_id())) as admin:
        for user_id in (gone, foreign, "nobody"):
            refused = await admin.post(watchers, json={"user_id": user_id})
            assert refused.status_code == 422, refused.text
            assert "user_id" in refused.text
        assert (await admin.post(watchers, json={"user_id": "x\x00"})).status_code == 422
        assert (await admin.get(watchers)).json() == []

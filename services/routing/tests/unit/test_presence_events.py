"""Every change of an agent's presence is published as ``AgentPresenceChanged`` on the routing
topic, keyed by the agent: set by the person, by a lead, by a deactivation, and by routing when
the agent stays idle past the tenant's timeout or lets offers expire. Time is moved by writing
the agent's last activity into the past and firing the timers, never by waiting."""

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from api_support import ADMIN, ANN, LEAD, Routing, routing_api
from routing_support import created, envelope, fire_timers
from sqlalchemy import select, update

from helpline_routing.adapters.orm import agents, metadata
from helpline_routing.service_layer import agents as agent_handlers
from helpline_routing.service_layer import handlers
from helpline_routing.service_layer.decisions import AGENT_IDLE, OFFER_EXPIRY
from helpline_shared import topics
from helpline_shared.events import UserDeactivated
from helpline_shared.runtime.db import outbox_table, utcnow


@pytest.fixture
async def routing(tmp_path: Path) -> AsyncIterator[Routing]:
    async with routing_api(tmp_path) as made:
        yield made


async def set_presence(
    routing: Routing, agent_id: str, status: str, headers: dict[str, str]
) -> None:
    response = await routing.client.put(
        f"/v1/agents/{agent_id}/presence", headers=headers, json={"status": status}
    )
    assert response.status_code == 200, response.text


async def settings(routing: Routing, **values: object) -> None:
    response = await routing.client.put("/v1/routing/settings", headers=ADMIN, json=values)
    assert response.status_code == 200, response.text


async def idle_since(routing: Routing, agent_id: str, seconds: int) -> None:
    """Make the agent's last activity ``seconds`` old."""
    async with routing.engine.begin() as connection:
        await connection.execute(
            update(agents)
            .where(agents.c.id == agent_id)
            .values(last_activity_at=utcnow() - timedelta(seconds=seconds))
        )


async def test_the_person_and_a_lead_changing_presence_publish_it_keyed_by_agent(
    routing: Routing,
) -> None:
    ann = (await routing.agent("ann", "ann"))["id"]
    await set_presence(routing, ann, "away", ANN)
    await set_presence(routing, ann, "away", ANN)
    await set_presence(routing, ann, "available", LEAD)
    await set_presence(routing, ann, "busy", ADMIN)
    changes = await routing.presence_events()
    assert [
        (e.tenant_id, e.agent_id, e.user_id, e.previous, e.presence, e.reason) for e in changes
    ] == [
        ("acme", ann, "ann", "available", "away", "person"),
        ("acme", ann, "ann", "away", "available", "lead"),
        ("acme", ann, "ann", "available", "busy", "lead"),
    ], "setting the same presence again publishes nothing"
    assert [(e.actor.type, e.actor.id) for e in changes if e.actor] == [
        ("user", "ann"),
        ("user", "lee"),
        ("user", "root"),
    ]
    outbox = outbox_table(metadata)
    async with routing.engine.connect() as connection:
        rows = (await connection.execute(select(outbox.c.topic, outbox.c.record_key))).all()
    assert {(row.topic, row.record_key) for row in rows if row.record_key == ann.encode()} == {
        (topics.ROUTING, ann.encode())
    }
    assert sum(row.record_key == ann.encode() for row in rows) == 3
    assert all(e.ticket_id == ann for e in changes)


async def test_the_idle_timeout_sets_the_agent_away_and_publishes_it(routing: Routing) -> None:
    await settings(routing, idle_timeout_seconds=600)
    idle = (await routing.agent("idle", "ida"))["id"]
    active = (await routing.agent("active", "abe"))["id"]
    await idle_since(routing, idle, 601)
    await idle_since(routing, active, 599)
    assert await fire_timers(routing.uow, AGENT_IDLE) == 2
    async with routing.uow() as unit:
        presences = {agent.id: agent.presence for agent in await unit.agents.of_tenant("acme")}
    assert presences == {idle: "away", active: "available"}
    changes = await routing.presence_events()
    assert [(e.agent_id, e.user_id, e.previous, e.presence, e.reason) for e in changes] == [
        (idle, "ida", "available", "away", "idle")
    ]
    assert changes[0].actor is not None and changes[0].actor.type == "system"


async def test_the_idle_timeout_stays_configurable(routing: Routing) -> None:
    await settings(routing, idle_timeout_seconds=0)
    ann = (await routing.agent("ann", "ann"))["id"]
    await idle_since(routing, ann, 10 * 86_400)
    await agent_handlers.heartbeat("acme", ann, routing.uow())
    await fire_timers(routing.uow, AGENT_IDLE)
    assert await routing.presence_events() == [], "a timeout of 0 never sets anyone away"


async def test_an_agent_letting_offers_expire_goes_away_as_idle(routing: Routing) -> None:
    await settings(routing, manual_acceptance=True, expiries_before_away=2)
    lazy = (await routing.agent("lazy", "lazy"))["id"]
    for ticket_id in ("t1", "t2"):
        await handlers.on_ticket_event(created(ticket_id), routing.uow())
    await fire_timers(routing.uow, OFFER_EXPIRY)
    assert [
        (e.agent_id, e.previous, e.presence, e.reason) for e in await routing.presence_events()
    ] == [(lazy, "available", "away", "idle")]


async def test_a_deactivated_users_agent_going_offline_is_published(routing: Routing) -> None:
    ann = (await routing.agent("ann", "ann"))["id"]
    deactivated = envelope(UserDeactivated(tenant_id="acme", user_id="ann", occurred_at=utcnow()))
    await agent_handlers.on_user_deactivated(deactivated, routing.uow())
    await agent_handlers.on_user_deactivated(deactivated, routing.uow())
    assert [
        (e.agent_id, e.previous, e.presence, e.reason) for e in await routing.presence_events()
    ] == [(ann, "available", "offline", "lead")]

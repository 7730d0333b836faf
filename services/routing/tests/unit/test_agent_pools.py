"""The tenant's agent pool stays in memory between decisions and follows every replica's change."""

from routing_support import Replicas, assigned, created, envelope, events_of, register

from helpline_routing.service_layer import agents as agent_handlers
from helpline_routing.service_layer import handlers
from helpline_shared.events import TicketStatusChanged
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import StatementLog


async def test_decisions_reuse_the_pool_instead_of_loading_every_agent(replicas: Replicas) -> None:
    uow, _other, engine = replicas
    for name in ("Ada", "Bo", "Cy"):
        await register(uow, name=name, capacity=5)
    await handlers.on_ticket_event(created("t1"), uow())
    log = StatementLog(engine)
    for ticket_id in ("t2", "t3", "t4"):
        await handlers.on_ticket_event(created(ticket_id), uow())
    assert len(await assigned(engine)) == 4
    assert log.count("SELECT agents.") == 0
    assert log.count("SELECT agent_capacity.") == 0
    assert log.count("SELECT agent_pool_versions.") == 3  # one version check per transaction


async def test_a_presence_change_on_another_replica_is_seen_by_the_next_decision(
    replicas: Replicas,
) -> None:
    first, second, engine = replicas
    agent_id = await register(first, capacity=5)
    await handlers.on_ticket_event(created("t1"), first())
    await agent_handlers.change_presence(
        agent_handlers.ChangePresence("acme", agent_id, "offline"), second()
    )
    await handlers.on_ticket_event(created("t2"), first())
    assert await assigned(engine) == [("t1", agent_id)]
    assert [e.ticket_id for e in await events_of(engine, "queued")] == ["t2"]


async def test_capacity_freed_on_another_replica_is_seen_by_the_next_decision(
    replicas: Replicas,
) -> None:
    first, second, engine = replicas
    agent_id = await register(first, capacity=1)
    await handlers.on_ticket_event(created("t1"), second())  # second's pool: the agent is full
    await handlers.on_ticket_event(
        envelope(
            TicketStatusChanged(
                tenant_id="acme",
                ticket_id="t1",
                occurred_at=utcnow(),
                previous_status="open",
                status="solved",
            )
        ),
        first(),
    )
    await handlers.on_ticket_event(created("t2"), second())
    assert await assigned(engine) == [("t1", agent_id), ("t2", agent_id)]


async def test_a_change_rolled_back_does_not_stay_in_the_pool(replicas: Replicas) -> None:
    uow, _other, engine = replicas
    agent_id = await register(uow, capacity=1)
    async with uow() as unit:
        await unit.pools.pool("acme")
        assert await unit.agents.reserve("acme", agent_id, "api", utcnow())
        await unit.rollback()
    await handlers.on_ticket_event(created("t1"), uow())
    assert await assigned(engine) == [("t1", agent_id)]

"""What routing no longer reads per transaction, and why that stays correct across replicas."""

from datetime import timedelta

import pytest
from routing_support import (
    T0,
    Replicas,
    agent,
    assigned,
    consume,
    created,
    events_of,
    register,
    request,
)
from sqlalchemy import select

from helpline_routing.adapters.orm import agent_capacity
from helpline_routing.domain.decision import EXPLAINED_CANDIDATES, decide_linear
from helpline_routing.domain.engine import AgentPool
from helpline_routing.domain.model import Agent
from helpline_routing.service_layer import admin, handlers
from helpline_shared.runtime.testing import (
    StatementLog,
    consumer_record,
)

NEEDS_GERMAN = {
    "rules": [
        {
            "id": "german",
            "conditions": {"tags": ["exports"]},
            "outcome": {"required_skills": {"german": 1}},
        }
    ]
}


async def test_rules_and_settings_are_read_once_across_transactions(replicas: Replicas) -> None:
    uow, _other, engine = replicas
    await register(uow, capacity=5)
    log = StatementLog(engine)
    for ticket_id in ("t1", "t2", "t3"):
        await handlers.on_ticket_event(created(ticket_id), uow())
    assert len(await assigned(engine)) == 3
    assert log.count("SELECT rule_sets.") == 1  # was one per transaction
    assert log.count("SELECT tenant_settings.") <= 1
    # The check that they did not change is the pool's version check: one statement for both.
    assert log.count("SELECT agent_pool_versions.") == 3


async def test_settings_changed_by_another_replica_are_used_by_the_next_decision(
    replicas: Replicas,
) -> None:
    first, second, engine = replicas
    agent_id = await register(first, capacity=5)
    await handlers.on_ticket_event(created("t1"), first())
    await admin.save_settings("acme", {"manual_acceptance": True}, second())
    await handlers.on_ticket_event(created("t2"), first())
    assert await assigned(engine) == [("t1", agent_id)]
    assert [e.ticket_id for e in await events_of(engine, "offered")] == ["t2"]


async def test_rules_changed_by_another_replica_are_used_by_the_next_decision(
    replicas: Replicas,
) -> None:
    first, second, engine = replicas
    agent_id = await register(first, capacity=5)
    await handlers.on_ticket_event(created("t1"), first())
    await admin.replace_rules("acme", NEEDS_GERMAN, second())
    await handlers.on_ticket_event(created("t2"), first())
    assert await assigned(engine) == [("t1", agent_id)]
    [queued] = await events_of(engine, "queued")
    assert queued.ticket_id == "t2"
    assert queued.explanation.rule_id == "german"


async def test_a_change_rolled_back_is_not_kept(replicas: Replicas) -> None:
    uow, _other, engine = replicas
    agent_id = await register(uow, capacity=5)
    async with uow() as unit:
        await unit.config.add_rules("acme", NEEDS_GERMAN, created("t0").event.occurred_at)
        assert (await unit.config.rules("acme"))[0].version == 1
        await unit.rollback()
    await handlers.on_ticket_event(created("t1"), uow())
    assert await assigned(engine) == [("t1", agent_id)]


async def test_a_new_ticket_is_not_looked_for_and_one_routed_before_is_left_alone(
    replicas: Replicas,
) -> None:
    uow, _other, engine = replicas
    agent_id = await register(uow, capacity=5)
    log = StatementLog(engine)
    batch = [created(t).event for t in ("t1", "t2")]
    records = [consumer_record(e, offset=n, event_id=f"e{n}") for n, e in enumerate(batch)]
    assert (await consume(uow, records)).sent == []
    assert log.count("SELECT routed_tickets.") == 0  # was one per new ticket
    # Was one per decision; the units are now taken behind, one statement for the batch.
    assert log.count("UPDATE agent_capacity") == 1

    # t1 again under a new event id, in a later batch: its INSERT fails the batch, which is
    # replayed one event per transaction, where t1 is looked for first and left alone.
    again = [created(t).event for t in ("t1", "t3")]
    records = [consumer_record(e, offset=n + 2, event_id=f"e{n + 2}") for n, e in enumerate(again)]
    assert (await consume(uow, records)).sent == []
    assert await assigned(engine) == [("t1", agent_id), ("t2", agent_id), ("t3", agent_id)]
    async with engine.connect() as connection:
        active = await connection.scalar(
            select(agent_capacity.c.active).where(agent_capacity.c.channel == "api")
        )
    assert active == 3


def test_a_decision_ranks_and_explains_with_the_tie_keys_the_pool_keeps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def team() -> list[Agent]:
        return [
            agent(
                f"a{n}",
                skills={"exports": 1 + n % 3},
                active={"api": n % 2},
                last_assigned_at=T0 + timedelta(minutes=n % 4) if n % 5 else None,
                presence="available" if n % 7 else "away",
            )
            for n in range(30)
        ]

    wanted = request()
    expected = decide_linear(team(), wanted, explain=EXPLAINED_CANDIDATES)
    pool = AgentPool(team())
    computed: list[str] = []
    tie_key = Agent.tie_key

    def counted(self: Agent, channel: str) -> tuple[float, float, object, str]:
        computed.append(self.id)
        return tie_key(self, channel)

    monkeypatch.setattr(Agent, "tie_key", counted)
    decision = pool.decide(wanted, explain=EXPLAINED_CANDIDATES)
    assert computed == []  # was twice per agent ranked, and more to explain each loss
    assert [a.id for a in decision.ranked] == [a.id for a in expected.ranked]
    assert decision.candidates == expected.candidates

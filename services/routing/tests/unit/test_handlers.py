"""Routing's handlers on a real (SQLite) database: assign, queue, offers, timers, affinity."""

from datetime import timedelta

import pytest
from routing_support import (
    Database,
    Factory,
    assigned,
    created,
    envelope,
    events_of,
    fire_timers,
    register,
)
from sqlalchemy import update

from helpline_routing.adapters.orm import agent_pool_versions, agents
from helpline_routing.domain.errors import NoCapacityLeft
from helpline_routing.service_layer import admin, handlers, offers
from helpline_routing.service_layer import agents as agent_handlers
from helpline_routing.service_layer.decisions import (
    AGENT_IDLE,
    HAND_BACK,
    OFFER_EXPIRY,
    RELAXATION,
)
from helpline_shared.events import SlaEscalated, TicketStatusChanged
from helpline_shared.runtime.db import utcnow


def status(ticket_id: str, new: str, previous: str = "open") -> object:
    return envelope(
        TicketStatusChanged(
            tenant_id="acme",
            ticket_id=ticket_id,
            occurred_at=utcnow(),
            previous_status=previous,
            status=new,
        )
    )  # type: ignore[arg-type]


async def manual_acceptance(uow: Factory, **extra: object) -> None:
    await admin.save_settings("acme", {"manual_acceptance": True, **extra}, uow())


async def load(uow: Factory, agent_id: str) -> dict[str, int]:
    async with uow() as unit:
        agent = await unit.agents.get("acme", agent_id)
    assert agent is not None
    return agent.active


async def test_a_new_ticket_goes_to_an_eligible_agent_with_an_explanation(
    database: Database,
) -> None:
    uow, engine = database
    agent_id = await register(uow)
    await handlers.on_ticket_event(created("t1"), uow())
    assert await assigned(engine) == [("t1", agent_id)]
    [event] = await events_of(engine, "assigned")
    assert event.explanation.rule_id == "default"
    assert event.explanation.candidates[0].outcome == "won"
    assert event.reason == "only eligible agent"


async def test_capacity_is_never_exceeded_and_the_rest_waits_with_a_reason(
    database: Database,
) -> None:
    uow, engine = database
    agent_id = await register(uow, capacity=1)
    await handlers.on_ticket_event(created("t1"), uow())
    await handlers.on_ticket_event(created("t2"), uow())
    assert await assigned(engine) == [("t1", agent_id)]
    [queued] = await events_of(engine, "queued")
    assert queued.ticket_id == "t2" and "no capacity on api: 1" in queued.reason
    assert await load(uow, agent_id) == {"api": 1, "email": 0}


async def test_solving_frees_capacity_and_the_next_ticket_is_assigned_at_once(
    database: Database,
) -> None:
    uow, engine = database
    agent_id = await register(uow, capacity=1)
    for ticket_id in ("t1", "t2"):
        await handlers.on_ticket_event(created(ticket_id), uow())
    await handlers.on_ticket_event(status("t1", "solved"), uow())
    assert await assigned(engine) == [("t1", agent_id), ("t2", agent_id)]


async def test_a_pending_ticket_does_not_count_as_load(database: Database) -> None:
    uow, engine = database
    agent_id = await register(uow, capacity=1)
    for ticket_id in ("t1", "t2"):
        await handlers.on_ticket_event(created(ticket_id), uow())
    await handlers.on_ticket_event(status("t1", "pending"), uow())
    assert await assigned(engine) == [("t1", agent_id), ("t2", agent_id)]
    assert await load(uow, agent_id) == {"api": 1, "email": 0}


async def test_an_agent_becoming_available_takes_waiting_work(database: Database) -> None:
    uow, engine = database
    agent_id = await register(uow, presence="offline")
    await handlers.on_ticket_event(created("t1"), uow())
    assert await assigned(engine) == []
    await agent_handlers.change_presence(
        agent_handlers.ChangePresence("acme", agent_id, "available"), uow()
    )
    assert await assigned(engine) == [("t1", agent_id)]


async def test_the_same_event_twice_assigns_once(database: Database) -> None:
    uow, engine = database
    agent_id = await register(uow, capacity=5)
    event = created("t1")
    await handlers.on_ticket_event(event, uow())
    await handlers.on_ticket_event(event, uow())
    assert await assigned(engine) == [("t1", agent_id)]
    assert await load(uow, agent_id) == {"api": 1, "email": 0}


async def test_with_manual_acceptance_the_ticket_is_assigned_on_accept(database: Database) -> None:
    uow, engine = database
    await manual_acceptance(uow)
    agent_id = await register(uow)
    await handlers.on_ticket_event(created("t1"), uow())
    [offered] = await events_of(engine, "offered")
    assert offered.agent_id == agent_id and await assigned(engine) == []
    await offers.answer_offer(offers.AnswerOffer("acme", offered.offer_id, accept=True), uow())
    [event] = await events_of(engine, "assigned")
    assert (event.agent_id, event.offer_id) == (agent_id, offered.offer_id)


async def test_a_declined_offer_goes_to_the_next_candidate_keeping_its_age(
    database: Database,
) -> None:
    uow, engine = database
    await manual_acceptance(uow)
    best = await register(uow, "Best", skills={"exports": 9})
    next_best = await register(uow, "Next", skills={"exports": 3})
    await handlers.on_ticket_event(created("t1"), uow())
    [first] = await events_of(engine, "offered")
    await offers.answer_offer(offers.AnswerOffer("acme", first.offer_id, accept=False), uow())
    second = (await events_of(engine, "offered"))[1]
    assert (first.agent_id, second.agent_id) == (best, next_best)
    assert await load(uow, best) == {"api": 0, "email": 0}
    await offers.answer_offer(offers.AnswerOffer("acme", second.offer_id, accept=False), uow())
    [queued] = await events_of(engine, "queued")
    assert "declined or let the offer expire: 2" in queued.reason
    ticket, history = await admin.ticket_routing("acme", "t1", uow())
    assert ticket.queued_at == (await events_of(engine, "classified"))[0].occurred_at
    assert [entry.kind for entry in history] == [
        "classified",
        "offered",
        "declined",
        "offered",
        "declined",
        "queued",
    ]


async def test_expired_offers_move_on_and_repeated_expiry_sets_the_agent_away(
    database: Database,
) -> None:
    uow, engine = database
    await manual_acceptance(uow, expiries_before_away=2)
    lazy = await register(uow, "Lazy", capacity=5, skills={"exports": 9})
    for ticket_id in ("t1", "t2", "t3"):
        await handlers.on_ticket_event(created(ticket_id), uow())
    assert {e.agent_id for e in await events_of(engine, "offered")} == {lazy}
    await fire_timers(uow, OFFER_EXPIRY, limit=2)
    expired = await events_of(engine, "offer_expired")
    assert [e.agent_set_away for e in expired] == [False, True]
    await fire_timers(uow, HAND_BACK)
    handed_back = await events_of(engine, "offer_declined")
    assert [e.handed_back for e in handed_back] == [True]
    async with uow() as unit:
        agent = await unit.agents.get("acme", lazy)
    assert agent is not None and agent.presence == "away"
    assert agent.active == {"api": 0, "email": 0}
    assert len(await events_of(engine, "queued")) == 3


async def test_going_offline_hands_back_unanswered_offers(database: Database) -> None:
    uow, engine = database
    await manual_acceptance(uow)
    leaving = await register(uow, "Leaving", skills={"exports": 9})
    staying = await register(uow, "Staying", skills={"exports": 2})
    await handlers.on_ticket_event(created("t1"), uow())
    await agent_handlers.change_presence(
        agent_handlers.ChangePresence("acme", leaving, "offline"), uow()
    )
    assert await fire_timers(uow, HAND_BACK) == 1
    offered = await events_of(engine, "offered")
    assert [e.agent_id for e in offered] == [leaving, staying]
    assert await load(uow, leaving) == {"api": 0, "email": 0}


async def test_relaxation_drops_the_optional_skill_and_the_ticket_is_assigned(
    database: Database,
) -> None:
    uow, engine = database
    await admin.replace_rules(
        "acme",
        {
            "rules": [
                {
                    "id": "vip",
                    "conditions": {"tags": ["exports"]},
                    "outcome": {
                        "required_skills": {"exports": 1},
                        "optional_skills": {"german": {"level": 1, "priority": 1}},
                    },
                }
            ]
        },
        uow(),
    )
    agent_id = await register(uow)
    await handlers.on_ticket_event(created("t1"), uow())
    assert await assigned(engine) == []
    assert await fire_timers(uow, RELAXATION) == 1
    [relaxed] = await events_of(engine, "routing_relaxed")
    assert relaxed.dropped_skill == "german"
    assert await assigned(engine) == [("t1", agent_id)]


async def test_the_first_matching_rule_wins_and_rules_are_versioned(database: Database) -> None:
    uow, engine = database
    for keyword in ("invoice", "refund"):
        await admin.replace_rules(
            "acme",
            {
                "rules": [
                    {
                        "id": "billing",
                        "conditions": {"keywords": [keyword]},
                        "outcome": {"required_skills": {"billing": 3}, "priority": "high"},
                    },
                    {
                        "id": "catch-all",
                        "conditions": {},
                        "outcome": {"required_skills": {"misc": 1}},
                    },
                ]
            },
            uow(),
        )
    await handlers.on_ticket_event(created("t1", subject="My REFUND please"), uow())
    await handlers.on_ticket_event(created("t2", subject="An invoice"), uow())
    classified = await events_of(engine, "classified")
    assert [(e.rule_id, e.rule_version, e.priority) for e in classified] == [
        ("billing", 2, "high"),
        ("catch-all", 2, "normal"),
    ]
    old, _stored = await admin.rules("acme", uow(), version=1)
    assert old.rules[0].conditions.keywords == ("invoice",)


async def test_an_escalation_widens_routing_to_tier2_and_raises_priority(
    database: Database,
) -> None:
    uow, engine = database
    await admin.replace_rules(
        "acme", {"rules": [], "default": {"tags_as_skills": True, "team": "tier1"}}, uow()
    )
    tier2 = await register(uow, "Tier2", teams=frozenset({"tier2"}))
    await handlers.on_ticket_event(created("t1"), uow())
    assert await assigned(engine) == []
    await handlers.on_ticket_event(
        envelope(
            SlaEscalated(
                tenant_id="acme",
                ticket_id="t1",
                occurred_at=utcnow(),
                metric="first_response",
                level=3,
                deadline=utcnow(),
                raise_priority_to="urgent",
                widen_to_team="tier2",
                clock_version=1,
                reason="level 3",
            )
        ),
        uow(),
    )
    assert await assigned(engine) == [("t1", tier2)]
    ticket, _history = await admin.ticket_routing("acme", "t1", uow())
    assert ticket.priority == "urgent"


async def test_a_reopened_ticket_goes_back_to_its_previous_assignee(database: Database) -> None:
    uow, engine = database
    first = await register(uow, "First", capacity=3, skills={"exports": 2})
    await handlers.on_ticket_event(created("t1"), uow())
    better = await register(uow, "Better", capacity=3, skills={"exports": 9})
    await handlers.on_ticket_event(status("t1", "solved"), uow())
    await handlers.on_ticket_event(status("t1", "open", previous="solved"), uow())
    assert await assigned(engine) == [("t1", first), ("t1", first)]
    await handlers.on_ticket_event(created("t2"), uow())
    assert (await assigned(engine))[-1] == ("t2", better)


async def test_the_account_manager_is_preferred_for_the_organisations_tickets(
    database: Database,
) -> None:
    uow, engine = database
    await register(uow, "Expert", capacity=3, skills={"exports": 9})
    manager = await register(uow, "Manager", capacity=3, skills={"exports": 1})
    await admin.set_account_manager("acme", "org-1", manager, uow())
    await handlers.on_ticket_event(created("t1", organization_id="org-1"), uow())
    [event] = await events_of(engine, "assigned")
    assert event.agent_id == manager and event.reason == "preferred agent (affinity)"


async def test_manual_override_respects_capacity_unless_told_to_exceed_it(
    database: Database,
) -> None:
    uow, engine = database
    busy = await register(uow, "Busy", capacity=1, skills={"exports": 9})
    other = await register(uow, "Other", capacity=1, skills={"exports": 1})
    await handlers.on_ticket_event(created("t1"), uow())
    await handlers.on_ticket_event(created("t2"), uow())
    with pytest.raises(NoCapacityLeft):
        await admin.assign_directly(admin.AssignDirectly("acme", "t2", busy), uow())
    await admin.assign_directly(
        admin.AssignDirectly("acme", "t2", busy, exceed_capacity=True), uow()
    )
    last = (await events_of(engine, "assigned"))[-1]
    assert (last.agent_id, last.manual, last.over_capacity) == (busy, True, True)
    assert await load(uow, busy) == {"api": 2, "email": 0}
    assert await load(uow, other) == {"api": 0, "email": 0}, "reassigning freed t2's unit"


async def test_an_idle_agent_is_set_away_and_activity_postpones_it(database: Database) -> None:
    uow, engine = database
    await admin.save_settings("acme", {"idle_timeout_seconds": 1}, uow())
    idle = await register(uow, "Idle")
    active = await register(uow, "Active")
    # Both registered two seconds ago: moved back in the database (as another replica would
    # write it, with the pool's version bumped), not waited for.
    async with engine.begin() as connection:
        await connection.execute(
            update(agents).values(
                created_at=utcnow() - timedelta(seconds=2),
                last_activity_at=utcnow() - timedelta(seconds=2),
            )
        )
        await connection.execute(
            update(agent_pool_versions).values(version=agent_pool_versions.c.version + 1)
        )
    await agent_handlers.heartbeat("acme", active, uow())
    await fire_timers(uow, AGENT_IDLE)
    async with uow() as unit:
        presences = {agent.id: agent.presence for agent in await unit.agents.of_tenant("acme")}
    assert presences == {idle: "away", active: "available"}


async def test_an_agent_can_auto_accept_while_the_tenant_uses_offers(database: Database) -> None:
    uow, engine = database
    await manual_acceptance(uow)
    agent_id = await register(uow, auto_accept=True)
    await handlers.on_ticket_event(created("t1"), uow())
    assert await events_of(engine, "offered") == []
    assert await assigned(engine) == [("t1", agent_id)]

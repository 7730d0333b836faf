"""Who gets the ticket: eligibility, ties, affinity, offers, capacity, hand-back. Pure, no I/O.

Every decision scenario runs on both engines (the index and the linear scan) and they must agree.
"""

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from routing_support import T0, agent, request, ticket

from helpline_routing.domain.decision import Decision, decide_linear
from helpline_routing.domain.engine import AgentPool
from helpline_routing.domain.model import Agent, RoutingRequest
from helpline_routing.domain.tickets import TenantSettings

Engine = Callable[..., Decision]


def indexed(agents: list[Agent], wanted: RoutingRequest, **options: Any) -> Decision:
    return AgentPool(agents).decide(wanted, **options)


ENGINES = pytest.mark.parametrize("decide", [indexed, decide_linear], ids=["index", "linear"])


@pytest.mark.parametrize(
    ("candidate", "wanted", "reason"),
    [
        (agent("a", presence="offline"), request({"exports": 3}), "presence is offline"),
        (agent("a", presence="away"), request({"exports": 3}), "presence is away"),
        (agent("a", presence="busy"), request({"exports": 3}), "presence is busy"),
        (agent("a", skills={}), request({"exports": 3}), "lacks skill exports"),
        (
            agent("a", skills={"exports": 2}),
            request({"exports": 3}),
            "skill exports at level 2, needs 3",
        ),
        (agent("a", active={"api": 2}), request({"exports": 3}), "no capacity left on api"),
        (agent("a", capacity={"email": 2}), request({"exports": 3}), "no capacity left on api"),
        (agent("a", active={"api": 2}), request({"exports": 3}, "email"), None),
        (
            agent("a", active={"email": 2}),
            request({"exports": 3}, "email"),
            "no capacity left on email",
        ),
        (
            agent("a", teams=frozenset({"tier1"})),
            request(teams=frozenset({"tier2"})),
            "not in team tier2",
        ),
        (agent("a", teams=frozenset({"tier2"})), request(teams=frozenset({"tier2"})), None),
        (agent("a", languages=frozenset({"en"})), request(language="de"), "does not speak de"),
        (agent("a", languages=frozenset({"de", "en"})), request(language="de"), None),
        (agent("a"), request(language="de"), None),
        (
            agent("a"),
            request(excluded=frozenset({"a"})),
            "declined this ticket or let its offer expire",
        ),
        (agent("a"), request({"exports": 5}), None),
    ],
)
def test_eligibility_names_the_reason(
    candidate: Agent, wanted: RoutingRequest, reason: str | None
) -> None:
    assert candidate.why_not(wanted) == reason
    assert candidate.eligible(wanted) is (reason is None)


TIES = [
    (
        [agent("a", skills={"exports": 4}), agent("b", skills={"exports": 9})],
        "b",
        "higher skill level wins",
    ),
    ([agent("a", active={"api": 1}), agent("b")], "b", "equal skill: lower load wins"),
    (
        [agent("a", last_assigned_at=T0), agent("b", last_assigned_at=T0 - timedelta(hours=1))],
        "b",
        "equal skill and load: longest idle wins",
    ),
    ([agent("a", last_assigned_at=T0), agent("b")], "b", "never assigned is longest idle"),
    (
        [agent("b", created_at=T0 + timedelta(1)), agent("a")],
        "a",
        "all equal: earliest registered wins",
    ),
    (
        [agent("a", capacity={"api": 4}, active={"api": 1}), agent("b", active={"api": 1})],
        "a",
        "load is relative to capacity",
    ),
    ([agent("a", skills={"exports": 9}, active={"api": 1}), agent("b")], "a", "skill beats load"),
]


@ENGINES
@pytest.mark.parametrize(("agents", "winner", "rule"), TIES, ids=[t[2] for t in TIES])
def test_tie_policy(decide: Engine, agents: list[Agent], winner: str, rule: str) -> None:
    decision = decide(agents, request())
    assert decision.ranked[0].id == winner, rule


AFFINITY = [
    (["c"], "c", "the preferred agent wins over a better one"),
    (["gone", "c"], "c", "an unknown preferred agent is skipped"),
    (["busy", "c"], "c", "an ineligible preferred agent is skipped"),
    (["c", "b"], "c", "preferred agents in the given order"),
    ([], "a", "without preference the tie policy decides"),
]


@ENGINES
@pytest.mark.parametrize(("preferred", "winner", "rule"), AFFINITY, ids=[a[2] for a in AFFINITY])
def test_affinity_prefers_the_account_manager_or_previous_assignee(
    decide: Engine, preferred: list[str], winner: str, rule: str
) -> None:
    agents = [
        agent("a", skills={"exports": 9}),
        agent("b", skills={"exports": 7}),
        agent("c", skills={"exports": 2}),
        agent("busy", presence="busy"),
    ]
    decision = decide(agents, request(preferred=tuple(preferred)))
    assert decision.ranked[0].id == winner, rule


CAPACITY = [
    ("api", {"api": 2}, None, "full on api"),
    ("email", {"api": 2}, "a", "room on email while full on api"),
    ("email", {"email": 1}, "a", "one email left"),
    ("email", {"email": 2}, None, "full on email"),
]


@ENGINES
@pytest.mark.parametrize(
    ("channel", "active", "winner", "rule"), CAPACITY, ids=[c[3] for c in CAPACITY]
)
def test_capacity_is_per_channel(
    decide: Engine, channel: str, active: dict[str, int], winner: str | None, rule: str
) -> None:
    decision = decide([agent("a", active=active)], request(channel=channel))
    assert (decision.winner.id if decision.winner else None) == winner, rule


@ENGINES
def test_a_decline_and_expiry_chain_walks_down_the_ranking(decide: Engine) -> None:
    agents = [
        agent("a", skills={"exports": 9}),
        agent("b", skills={"exports": 7}),
        agent("c", skills={"exports": 5}),
    ]
    routed = ticket()
    offered = []
    for turned_down_by in ("declined", "expired", "declined"):
        decision = decide(agents, routed.request())
        if decision.winner is None:
            break
        offered.append(decision.winner.id)
        routed.offer(decision.winner.id, f"offer-{len(offered)}")
        routed.turn_down(decision.winner.id)
        assert turned_down_by
    assert offered == ["a", "b", "c"]
    assert decide(agents, routed.request()).winner is None
    assert routed.queued_at == T0, "the ticket keeps its original queue age"
    assert routed.queue("nobody left") and routed.queued_at == T0


EXPIRIES = [
    (3, ["available", "available", "away"], "away after the third expiry in a row"),
    (1, ["away"], "away at once when the tenant says 1"),
]


@pytest.mark.parametrize(("limit", "presences", "rule"), EXPIRIES, ids=[e[2] for e in EXPIRIES])
def test_an_agent_who_lets_offers_expire_repeatedly_is_set_away(
    limit: int, presences: list[str], rule: str
) -> None:
    lazy = agent("a")
    seen = []
    for _ in presences:
        lazy.record_expired_offer(limit)
        seen.append(lazy.presence)
    assert seen == presences, rule


def test_answering_an_offer_ends_the_run_of_expiries() -> None:
    lazy = agent("a")
    lazy.record_expired_offer(3)
    lazy.record_expired_offer(3)
    lazy.record_response(T0)
    assert not lazy.record_expired_offer(3)
    assert lazy.presence == "available"


@ENGINES
def test_an_agent_going_offline_hands_back_without_being_excluded(decide: Engine) -> None:
    agents = [agent("a", skills={"exports": 9}), agent("b")]
    routed = ticket()
    first = decide(agents, routed.request()).ranked[0]
    routed.offer(first.id, "o1")
    first.presence = "offline"
    routed.hand_back()
    assert routed.excluded_agents == ()
    assert decide(agents, routed.request()).ranked[0].id == "b"
    first.presence = "available"
    assert decide(agents, routed.request()).ranked[0].id == "a", "back online: eligible again"


RELAXATION = [
    (
        {"sso": (1, 1), "vip": (1, 5), "de": (1, 3)},
        None,
        ["vip", "de", "sso"],
        [],
        "highest priority number first",
    ),
    ({"sso": (1, 2), "api": (1, 2)}, None, ["sso", "api"], [], "equal priority: by name"),
    ({"sso": (1, 1)}, "tier2", ["sso"], ["tier2"], "a last step widens to the fallback team"),
    ({}, "tier2", [], ["tier2"], "no optional skills: only the widening"),
]


@pytest.mark.parametrize(
    ("optional", "fallback", "dropped", "widened", "rule"),
    RELAXATION,
    ids=[r[4] for r in RELAXATION],
)
def test_relaxation_drops_optional_skills_then_widens(
    optional: dict[str, tuple[int, int]],
    fallback: str | None,
    dropped: list[str],
    widened: list[str],
    rule: str,
) -> None:
    settings = TenantSettings(fallback_team=fallback, relaxation_waits_seconds=(30, 60))
    routed = ticket(optional, team="tier1")
    steps = []
    while (step := routed.next_relaxation(settings)) is not None:
        steps.append(step)
        routed.relax(step)
    assert [s.dropped_skill for s in steps if s.dropped_skill] == dropped, rule
    assert [s.widened_to_team for s in steps if s.widened_to_team] == widened, rule
    assert routed.required_skills == {"exports": 1}, "required skills are never dropped"
    assert [s.step for s in steps] == list(range(1, len(steps) + 1))


def test_relaxation_steps_are_due_after_the_configured_waits_from_queue_entry() -> None:
    settings = TenantSettings(relaxation_waits_seconds=(30, 60))
    routed = ticket({"a": (1, 1), "b": (1, 2), "c": (1, 3)})
    due = []
    for _ in range(3):
        due.append((routed.relaxation_due_at(settings) - T0).total_seconds())
        step = routed.next_relaxation(settings)
        assert step is not None
        routed.relax(step)
    assert due == [30, 90, 150], "the last wait repeats"


@ENGINES
def test_optional_skills_are_required_until_relaxed(decide: Engine) -> None:
    agents = [agent("plain"), agent("vip", skills={"exports": 1, "vip": 3})]
    routed = ticket({"vip": (3, 1)})
    assert decide(agents, routed.request()).ranked[0].id == "vip"
    agents[1].presence = "away"
    assert decide(agents, routed.request()).winner is None
    step = routed.next_relaxation(TenantSettings())
    assert step is not None
    routed.relax(step)
    assert decide(agents, routed.request()).ranked[0].id == "plain"


def test_reopen_prefers_the_previous_assignee_only_within_the_window() -> None:
    settings = TenantSettings(affinity_window_seconds=3600)
    routed = ticket()
    routed.assign("a")
    routed.close(T0)
    assert routed.affinity_agent(T0 + timedelta(minutes=59), settings) == "a"
    assert routed.affinity_agent(T0 + timedelta(minutes=61), settings) is None


def test_escalation_raises_priority_and_widens_but_never_lowers() -> None:
    routed = ticket(team="tier1")
    assert routed.raise_priority("urgent") and routed.priority == "urgent"
    assert not routed.raise_priority("high")
    assert routed.widen("tier2") and routed.teams() == {"tier1", "tier2"}
    assert not routed.widen("tier2")


@ENGINES
def test_every_candidate_is_explained(decide: Engine) -> None:
    agents = [
        agent("off", presence="offline"),
        agent("b", skills={"exports": 3}),
        agent("a", skills={"exports": 8}),
    ]
    decision = decide(agents, request(), explain=10)
    outcomes = {c.agent_id: c.outcome for c in decision.candidates}
    assert outcomes == {
        "a": "won",
        "b": "lost: lower skill score 3 < 8",
        "off": "ineligible: presence is offline",
    }
    assert decision.why_won(agents[2]) == "won: higher skill score 8 > 3"
    assert (
        decide([agents[0]], request(), explain=10)
        .queue_reason()
        .startswith("no eligible agent among 1")
    )


def test_the_index_agrees_with_the_linear_scan_on_random_pools() -> None:
    rng = random.Random(7)
    skills = [f"s{i}" for i in range(12)]
    agents = [
        agent(
            f"a{i}",
            skills={s: rng.randint(1, 10) for s in rng.sample(skills, 4)},
            presence=rng.choice(["available", "available", "away"]),
            capacity={"api": rng.randint(0, 3), "email": 2},
            active={"api": rng.randint(0, 2)},
            teams=frozenset(rng.sample(["t1", "t2", "t3"], 1)),
            languages=frozenset(rng.sample(["en", "de", "fr"], rng.randint(0, 2))),
            last_assigned_at=T0 - timedelta(minutes=rng.randint(0, 3)),
        )
        for i in range(200)
    ]
    pool = AgentPool(agents)
    for _ in range(300):
        wanted = request(
            {s: rng.randint(1, 6) for s in rng.sample(skills, rng.randint(0, 2))},
            rng.choice(["api", "email"]),
            teams=frozenset(rng.sample(["t1", "t2", "t3"], rng.randint(0, 2))),
            language=rng.choice([None, "en", "de"]),
            excluded=frozenset({f"a{rng.randint(0, 199)}"}),
        )
        expected = [a.id for a in decide_linear(agents, wanted).ranked]
        assert [a.id for a in pool.decide(wanted).ranked] == expected
        assert [a.id for a in pool.decide(wanted, depth=1).ranked] == expected[:1]
        if expected:
            pool.reserve(expected[0], wanted.channel)


ACCEPTANCE = [
    (None, False, True, "tenant auto-accepts (the default)"),
    (None, True, False, "tenant wants manual acceptance"),
    (True, True, True, "the agent auto-accepts whatever the tenant says"),
    (False, False, False, "the agent wants offers whatever the tenant says"),
]


@pytest.mark.parametrize(
    ("agent_setting", "manual", "automatic", "rule"), ACCEPTANCE, ids=[a[3] for a in ACCEPTANCE]
)
def test_auto_accept_is_per_tenant_with_a_per_agent_override(
    agent_setting: bool | None, manual: bool, automatic: bool, rule: str
) -> None:
    assert agent("a", auto_accept=agent_setting).accepts_automatically(manual) is automatic, rule

"""Who gets the ticket: eligibility and the documented tie policy, table-driven, no I/O."""

from datetime import UTC, datetime, timedelta

import pytest

from helpline_routing.domain.model import Agent, decide, required_skills_for

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def agent(agent_id: str, **overrides: object) -> Agent:
    values: dict[str, object] = {
        "id": agent_id, "tenant_id": "acme", "name": agent_id, "email": f"{agent_id}@x.test",
        "skills": {"exports": 5}, "presence": "available", "capacity": {"api": 2, "email": 2},
        "active": {}, "created_at": T0, "last_assigned_at": None,
    }
    values.update(overrides)
    return Agent(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        (agent("a", presence="offline"), "presence is offline"),
        (agent("a", presence="away"), "presence is away"),
        (agent("a", skills={}), "lacks skill exports"),
        (agent("a", skills={"exports": 2}), "skill exports at level 2, needs 3"),
        (agent("a", active={"api": 2}), "no capacity left on api"),
        (agent("a", capacity={"email": 2}), "no capacity left on api"),
        (agent("a"), None),
    ],
)
def test_eligibility_names_the_reason(candidate: Agent, reason: str | None) -> None:
    assert candidate.why_not({"exports": 3}, "api") == reason


@pytest.mark.parametrize(
    ("agents", "winner", "rule"),
    [
        ([agent("a", skills={"exports": 4}), agent("b", skills={"exports": 9})], "b",
         "higher skill level wins"),
        ([agent("a", active={"api": 1}), agent("b")], "b", "equal skill: lower load wins"),
        ([agent("a", last_assigned_at=T0), agent("b", last_assigned_at=T0 - timedelta(hours=1))],
         "b", "equal skill and load: longest idle wins"),
        ([agent("a", last_assigned_at=T0), agent("b")], "b", "never assigned is longest idle"),
        ([agent("b", created_at=T0 + timedelta(1)), agent("a")], "a",
         "all equal: earliest registered wins"),
        ([agent("a", capacity={"api": 4}, active={"api": 1}), agent("b", active={"api": 1})],
         "a", "load is relative to capacity"),
    ],
)
def test_tie_policy(agents: list[Agent], winner: str, rule: str) -> None:
    decision = decide(agents, {"exports": 1}, "api")
    assert decision.ranked[0].id == winner, rule


def test_every_agent_considered_is_explained() -> None:
    decision = decide([agent("a", presence="offline"), agent("b")], {"exports": 1}, "api")
    assert [(c.agent_id, c.outcome) for c in decision.considered] == [
        ("a", "presence is offline"), ("b", "eligible")]
    assert "best of 1 eligible of 2 considered" in decision.explain(decision.ranked[0],
                                                                    {"exports": 1}, "api")


def test_tags_become_required_skills() -> None:
    assert required_skills_for(["exports", "sso"]) == {"exports": 1, "sso": 1}

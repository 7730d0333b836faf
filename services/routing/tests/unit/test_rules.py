"""Classification: ordered rules, first match wins, a default applies. Table-driven, no I/O."""

import pytest

from helpline_routing.domain.rules import (
    Classification,
    Conditions,
    OptionalSkill,
    Outcome,
    Rule,
    RuleSet,
    TicketFacts,
    classify,
)

FACTS = TicketFacts(
    subject="Nightly export fails",
    body="Since the upgrade to 4.2",
    tags=("exports", "vip"),
    channel="email",
    type="corrective",
    priority="normal",
    plan="premium",
    language="de",
    mailbox="Support@Acme.test",
)


def only(conditions: Conditions) -> RuleSet:
    return RuleSet(version=3, rules=(Rule("r", conditions, Outcome(required_skills={"x": 2})),))


CONDITIONS = [
    (Conditions(keywords=("export",)), True, "keyword, whole word, any case"),
    (Conditions(keywords=("port",)), False, "a keyword is a whole word"),
    (Conditions(keywords=("UPGRADE",)), True, "keywords match the body too"),
    (Conditions(tags=("billing", "vip")), True, "any of the tags"),
    (Conditions(tags=("billing",)), False, "no tag in common"),
    (Conditions(channels=("api",)), False, "channel"),
    (Conditions(types=("corrective", "adaptive")), True, "type"),
    (Conditions(plans=("basic",)), False, "plan"),
    (Conditions(languages=("de",)), True, "language"),
    (Conditions(mailboxes=("support@acme.test",)), True, "mailbox, any case"),
    (Conditions(keywords=("export",), plans=("basic",)), False, "every condition must match"),
    (Conditions(), True, "no condition matches everything"),
]


@pytest.mark.parametrize(
    ("conditions", "matches", "rule"), CONDITIONS, ids=[c[2] for c in CONDITIONS]
)
def test_conditions(conditions: Conditions, matches: bool, rule: str) -> None:
    assert (classify(only(conditions), FACTS).rule_id == "r") is matches, rule


def test_the_first_matching_rule_wins_and_sets_skills_priority_and_team() -> None:
    rules = RuleSet(
        version=2,
        rules=(
            Rule("api-only", Conditions(channels=("api",)), Outcome(required_skills={"api": 1})),
            Rule(
                "vip",
                Conditions(tags=("vip",)),
                Outcome(
                    required_skills={"exports": 4},
                    priority="urgent",
                    team="tier2",
                    optional_skills={"german": OptionalSkill(2, 1), "exports": OptionalSkill(9, 2)},
                ),
            ),
            Rule("catch-all", Conditions(), Outcome(required_skills={"misc": 1})),
        ),
    )
    assert classify(rules, FACTS) == Classification(
        rule_id="vip",
        rule_version=2,
        required_skills={"exports": 4},
        optional_skills={"german": OptionalSkill(2, 1)},
        priority="urgent",
        team="tier2",
    )


DEFAULTS = [
    (RuleSet(), {"exports": 1, "vip": 1}, "built-in default: every tag is a skill"),
    (RuleSet(default=Outcome(required_skills={"triage": 2})), {"triage": 2}, "a tenant default"),
    (
        RuleSet(default=Outcome(required_skills={"exports": 3}, tags_as_skills=True)),
        {"exports": 3, "vip": 1},
        "tags as skills keep the higher stated level",
    ),
]


@pytest.mark.parametrize(("rules", "skills", "rule"), DEFAULTS, ids=[d[2] for d in DEFAULTS])
def test_the_default_applies_when_no_rule_matches(
    rules: RuleSet, skills: dict[str, int], rule: str
) -> None:
    found = classify(rules, FACTS)
    assert (found.rule_id, found.required_skills, found.priority) == (
        "default",
        skills,
        "normal",
    ), rule

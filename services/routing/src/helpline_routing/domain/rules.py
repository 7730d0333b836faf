"""Classification rules of a tenant: ordered, first match wins, a default applies.

A rule's conditions are all required; each condition lists alternatives (any of them matches). An
empty condition matches everything. Keywords match whole words of the subject or the body,
ignoring case.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_RULE = "default"


@dataclass(frozen=True)
class OptionalSkill:
    """A skill wanted at first and dropped by relaxation (highest priority number first)."""

    level: int
    priority: int


@dataclass(frozen=True)
class TicketFacts:
    """What rules can look at."""

    subject: str
    body: str
    tags: tuple[str, ...]
    channel: str
    type: str
    priority: str
    plan: str | None = None
    language: str | None = None
    mailbox: str | None = None


@dataclass(frozen=True)
class Conditions:
    """When a rule applies; every non-empty condition must match."""

    keywords: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    plans: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    mailboxes: tuple[str, ...] = ()

    def matches(self, facts: TicketFacts) -> bool:
        """Whether ``facts`` satisfy every condition."""
        if self.keywords and not _any_keyword(self.keywords, f"{facts.subject}\n{facts.body}"):
            return False
        if self.tags and not set(self.tags) & set(facts.tags):
            return False
        checks = (
            (self.channels, facts.channel),
            (self.types, facts.type),
            (self.plans, facts.plan),
            (self.languages, facts.language),
            (tuple(mailbox.lower() for mailbox in self.mailboxes), (facts.mailbox or "").lower()),
        )
        return all(not allowed or value in allowed for allowed, value in checks)


def _any_keyword(keywords: tuple[str, ...], text: str) -> bool:
    return any(
        re.search(rf"(?<!\w){re.escape(keyword)}(?!\w)", text, re.IGNORECASE)
        for keyword in keywords
    )


@dataclass(frozen=True)
class Outcome:
    """What a matching rule decides about the ticket."""

    required_skills: Mapping[str, int] = field(default_factory=dict)
    optional_skills: Mapping[str, OptionalSkill] = field(default_factory=dict)
    priority: str | None = None
    team: str | None = None
    tags_as_skills: bool = False
    """Also require every tag of the ticket as a skill at level 1."""


@dataclass(frozen=True)
class Rule:
    """One classification rule."""

    id: str
    conditions: Conditions
    outcome: Outcome


@dataclass(frozen=True)
class RuleSet:
    """A tenant's rules at one version; version 0 is the built-in default (tags are skills)."""

    version: int = 0
    rules: tuple[Rule, ...] = ()
    default: Outcome = field(default_factory=lambda: Outcome(tags_as_skills=True))


@dataclass(frozen=True)
class Classification:
    """The rule that matched and what the ticket needs."""

    rule_id: str
    rule_version: int
    required_skills: dict[str, int]
    optional_skills: dict[str, OptionalSkill]
    priority: str
    team: str | None


def classify(rules: RuleSet, facts: TicketFacts) -> Classification:
    """Apply the first matching rule, or the default."""
    rule_id, outcome = next(
        ((rule.id, rule.outcome) for rule in rules.rules if rule.conditions.matches(facts)),
        (DEFAULT_RULE, rules.default),
    )
    required = dict(outcome.required_skills)
    if outcome.tags_as_skills:
        for tag in facts.tags:
            required[tag] = max(required.get(tag, 1), 1)
    optional = {
        skill: wanted for skill, wanted in outcome.optional_skills.items() if skill not in required
    }
    return Classification(
        rule_id=rule_id,
        rule_version=rules.version,
        required_skills=required,
        optional_skills=optional,
        priority=outcome.priority or facts.priority,
        team=outcome.team,
    )

"""A routing decision and its explanation, and the linear scan every decision is checked against.

``decide_linear`` is the obvious scan over every agent, kept as the benchmark baseline and as the
reference the indexed ``AgentPool`` (``engine.py``) must agree with.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from helpline_routing.domain.model import Agent, RankKey, RoutingRequest

EXPLAINED_CANDIDATES = 20


@dataclass(frozen=True)
class Candidate:
    """One agent considered for a ticket, and why it lost (or that it won)."""

    agent_id: str
    outcome: str


@dataclass(frozen=True)
class Decision:
    """Eligible agents best first, and every agent considered with its outcome."""

    request: RoutingRequest
    ranked: list[Agent]
    considered: int
    candidates: list[Candidate] = field(default_factory=list)
    excluded: Mapping[str, int] = field(default_factory=dict)

    @property
    def winner(self) -> Agent | None:
        """The best eligible agent, or None."""
        return self.ranked[0] if self.ranked else None

    def why_won(self, winner: Agent) -> str:
        """Why ``winner`` beat the runner-up, in one sentence."""
        others = [agent for agent in self.ranked if agent.id != winner.id]
        if winner.id in self.request.preferred:
            return "preferred agent (affinity)"
        if not others:
            return "only eligible agent"
        return "won: " + why_lost(others[0], winner, self.request, flip=True)

    def queue_reason(self) -> str:
        """Why nobody can take the ticket, for the queue."""
        if not self.considered:
            return "no agents registered"
        counts = ", ".join(
            f"{reason}: {count}" for reason, count in sorted(self.excluded.items()) if count
        )
        return f"no eligible agent among {self.considered} ({counts})"


def why_lost(agent: Agent, winner: Agent, request: RoutingRequest, *, flip: bool = False) -> str:
    """The first tie-policy criterion on which ``agent`` lost to ``winner`` (or won, ``flip``)."""
    if winner.id in request.preferred and agent.id not in request.preferred:
        return "the winner is a preferred agent"
    return _lost_on(agent.rank_key(request), winner.rank_key(request), request.channel, flip)


def _lost_on(mine: RankKey, theirs: RankKey, channel: str, flip: bool = False) -> str:
    """``why_lost`` from the two agents' rank keys (score, load, idle, registration, id)."""
    if mine[0] != theirs[0]:
        return (
            f"higher skill score {-theirs[0]} > {-mine[0]}"
            if flip
            else f"lower skill score {-mine[0]} < {-theirs[0]}"
        )
    if mine[1] != theirs[1]:
        return (
            f"equal skill score, lower load {theirs[1]:.2f} < {mine[1]:.2f} on {channel}"
            if flip
            else f"higher load {mine[1]:.2f} > {theirs[1]:.2f} on {channel}"
        )
    if mine[2] != theirs[2]:
        return (
            "equal skill and load, idle longer"
            if flip
            else "equal skill and load, idle for less time"
        )
    return "all equal, registered earlier" if flip else "all equal, registered later"


def order(
    eligible: Iterable[Agent],
    request: RoutingRequest,
    depth: int | None,
    key: Callable[[Agent], RankKey] | None = None,
) -> list[Agent]:
    """Preferred agents first (in their order), then the tie policy; the first ``depth``.

    ``key`` is each agent's rank key, when the caller has it already (default: computed).
    """
    key = key or (lambda agent: agent.rank_key(request))
    pool = list(eligible)
    preferred = [agent for agent_id in request.preferred for agent in pool if agent.id == agent_id]
    rest = [agent for agent in pool if agent.id not in request.preferred]
    if depth == 1 and not preferred and rest:
        return [min(rest, key=key)]
    rest.sort(key=key)
    ranked = preferred + rest
    return ranked if depth is None else ranked[:depth]


def explain_candidates(
    ranked: list[Agent],
    agents: Iterable[Agent],
    request: RoutingRequest,
    limit: int,
    keys: Mapping[str, RankKey] | None = None,
) -> list[Candidate]:
    """The winner, the runners-up with why each lost, then ineligible agents with why (bounded).

    ``keys``: the rank key of each ranked agent, when the caller has them already.
    """
    candidates: list[Candidate] = []
    if ranked:
        winner = ranked[0]
        candidates.append(Candidate(winner.id, "won"))
        if keys is None or winner.id in request.preferred:
            candidates.extend(
                Candidate(agent.id, "lost: " + why_lost(agent, winner, request))
                for agent in ranked[1:limit]
            )
        else:  # the winner is not preferred, so neither is anyone else
            theirs, channel = keys[winner.id], request.channel
            candidates.extend(
                Candidate(agent.id, "lost: " + _lost_on(keys[agent.id], theirs, channel))
                for agent in ranked[1:limit]
            )
    for agent in agents:
        if len(candidates) >= limit:
            break
        reason = agent.why_not(request)
        if reason is not None:
            candidates.append(Candidate(agent.id, "ineligible: " + reason))
    return candidates


def decide_linear(
    agents: list[Agent], request: RoutingRequest, *, depth: int | None = None, explain: int = 0
) -> Decision:
    """Rank by scanning every agent (the baseline the index is measured against)."""
    eligible = [agent for agent in agents if agent.eligible(request)]
    ranked = order(eligible, request, depth)
    candidates = explain_candidates(ranked, agents, request, explain) if explain else []
    excluded: dict[str, int] = {}
    for agent in agents if explain else ():
        reason = agent.why_not(request)
        if reason is not None:
            excluded[reason] = excluded.get(reason, 0) + 1
    return Decision(request, ranked, len(agents), candidates, excluded)

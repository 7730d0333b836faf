"""The indexed decision engine: an agent pool that answers without scanning the tenant.

Kept up to date on every change of presence or load, the pool holds, per skill and level, the
agents at or above that level; per channel, skill and exact level, the agents who are available
with room; per channel, each agent's tie-policy key. A winner-only decision (``depth=1``) walks
one required skill's levels from the top and stops as soon as no lower level can beat the best
found (branch and bound on the skill score), filtering each small level group by set
intersections. Its cost follows the size of the top groups, not the size of the tenant.
"""

from collections.abc import Iterable
from datetime import datetime

from helpline_routing.domain.decision import (
    Decision,
    explain_candidates,
    order,
)
from helpline_routing.domain.model import CHANNELS, Agent, RankKey, RoutingRequest, TieKey

MAX_LEVEL = 10
EMPTY: frozenset[str] = frozenset()


def _levels() -> list[set[str]]:
    return [set() for _ in range(MAX_LEVEL + 2)]


def _level(level: int) -> int:
    return min(max(level, 1), MAX_LEVEL)


class AgentPool:
    """The agents of one tenant, indexed by skill level, channel room, team and language."""

    def __init__(self, agents: Iterable[Agent] = ()) -> None:
        self._agents: dict[str, Agent] = {}
        self._skill: dict[str, list[set[str]]] = {}
        self._ready: dict[str, dict[str, list[set[str]]]] = {ch: {} for ch in CHANNELS}
        self._tie: dict[str, dict[str, TieKey]] = {ch: {} for ch in CHANNELS}
        self._team: dict[str, set[str]] = {}
        self._language: dict[str, set[str]] = {}
        self._any_language: set[str] = set()
        self._available: set[str] = set()
        self._room: dict[str, set[str]] = {channel: set() for channel in CHANNELS}
        for agent in agents:
            self.add(agent)

    def __len__(self) -> int:
        return len(self._agents)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._agents

    def add(self, agent: Agent) -> None:
        """Index ``agent`` (replacing an earlier version of it)."""
        if agent.id in self._agents:
            self.remove(agent.id)
        self._agents[agent.id] = agent
        for skill, level in agent.skills.items():
            levels = self._skill.setdefault(skill, _levels())
            for at_least in range(1, _level(level) + 1):
                levels[at_least].add(agent.id)
        for team in agent.teams:
            self._team.setdefault(team, set()).add(agent.id)
        for language in agent.languages:
            self._language.setdefault(language, set()).add(agent.id)
        if not agent.languages:
            self._any_language.add(agent.id)
        self._refresh(agent)

    def remove(self, agent_id: str) -> None:
        """Forget an agent."""
        agent = self._agents.pop(agent_id)
        for skill, level in agent.skills.items():
            for members in self._skill[skill]:
                members.discard(agent_id)
            for by_skill in self._ready.values():
                by_skill[skill][_level(level)].discard(agent_id)
        for index in (self._team, self._language, self._room):
            for members in index.values():
                members.discard(agent_id)
        self._any_language.discard(agent_id)
        self._available.discard(agent_id)
        for ties in self._tie.values():
            ties.pop(agent_id, None)

    def _refresh(self, agent: Agent) -> None:
        available = agent.presence == "available"
        (self._available.add if available else self._available.discard)(agent.id)
        for channel in set(CHANNELS) | set(agent.capacity):
            ready = available and agent.has_room(channel)
            room = self._room.setdefault(channel, set())
            by_skill = self._ready.setdefault(channel, {})
            self._tie.setdefault(channel, {})[agent.id] = agent.tie_key(channel)
            (room.add if ready else room.discard)(agent.id)
            for skill, level in agent.skills.items():
                members = by_skill.setdefault(skill, _levels())[_level(level)]
                (members.add if ready else members.discard)(agent.id)

    def reserve(self, agent_id: str, channel: str, at: datetime | None = None) -> None:
        """Count one more ticket on the agent's channel (assigned ``at``, when given)."""
        agent = self._agents[agent_id]
        agent.active[channel] = agent.active.get(channel, 0) + 1
        if at is not None:
            agent.last_assigned_at = at
        self._refresh(agent)

    def release(self, agent_id: str, channel: str) -> None:
        """Count one ticket less on the agent's channel."""
        agent = self._agents[agent_id]
        agent.active[channel] = max(agent.active.get(channel, 0) - 1, 0)
        self._refresh(agent)

    def set_presence(self, agent_id: str, presence: str) -> None:
        """Record a presence change."""
        agent = self._agents[agent_id]
        agent.presence = presence  # type: ignore[assignment]
        self._refresh(agent)

    def _narrow(self, members: set[str], request: RoutingRequest) -> set[str]:
        """``members`` that are in an allowed team, speak the language and are not excluded."""
        if request.teams:
            members = set().union(
                *(members & self._team.get(team, EMPTY) for team in request.teams)
            )
        if request.language is not None:
            members = (members & self._language.get(request.language, EMPTY)) | (
                members & self._any_language
            )
        return members - request.excluded if request.excluded else members

    def _qualified(self, request: RoutingRequest) -> set[str]:
        """Agents with the skills, team and language asked for, whatever their presence."""
        sets: list[set[str]] = []
        for skill, minimum in request.required_skills.items():
            levels = self._skill.get(skill)
            if levels is None or minimum > MAX_LEVEL:
                return set()
            sets.append(levels[_level(minimum)])
        if not sets:
            sets.append(set(self._agents))
        sets.sort(key=len)
        qualified = sets[0].intersection(*sets[1:])
        if request.teams:
            qualified = set().union(
                *(qualified & self._team.get(team, EMPTY) for team in request.teams)
            )
        if request.language is not None:
            qualified = (qualified & self._language.get(request.language, EMPTY)) | (
                qualified & self._any_language
            )
        return qualified

    def eligible(self, request: RoutingRequest) -> set[str]:
        """Ids of every eligible agent."""
        room = self._room.get(request.channel, set())
        return (room & self._qualified(request)) - request.excluded

    def decide(
        self, request: RoutingRequest, *, depth: int | None = None, explain: int = 0
    ) -> Decision:
        """Rank the eligible agents by the tie policy, looking only at plausible agents."""
        agents = self._agents
        keys: dict[str, RankKey] | None = None
        if depth == 1 and request.required_skills and not request.preferred:
            ranked = self._best(request)
        else:
            # Each agent's key once, from the tie keys the pool keeps: sorting and explaining
            # both use it.
            skills, ties = request.required_skills, self._tie.get(request.channel, {})
            keys = {
                agent_id: (-agents[agent_id].skill_score(skills), *ties[agent_id])
                for agent_id in self.eligible(request)
            }
            ranked = order(
                (agents[agent_id] for agent_id in keys),
                request,
                depth,
                key=lambda agent: keys[agent.id],
            )
        if not explain:
            return Decision(request, ranked, len(agents))
        return Decision(
            request,
            ranked,
            len(agents),
            explain_candidates(ranked, agents.values(), request, explain, keys),
            self._excluded_counts(request),
        )

    def _best(self, request: RoutingRequest) -> list[Agent]:
        """The winner alone, walking the levels of the rarest required skill from the top.

        The skill score is the sum of the required levels, so agents at level ``L`` of the pivot
        skill score at most ``L`` plus the maximum of the other skills: once that bound is below
        the best score found, no lower level can win.
        """
        skills = request.required_skills
        for skill, minimum in skills.items():
            if skill not in self._skill or minimum > MAX_LEVEL:
                return []
        pivot = min(skills, key=lambda skill: len(self._skill[skill][_level(skills[skill])]))
        ready = self._ready.get(request.channel, {}).get(pivot)
        if ready is None:
            return []
        others = [
            self._skill[skill][_level(minimum)]
            for skill, minimum in skills.items()
            if skill != pivot
        ]
        slack = MAX_LEVEL * len(others)
        ties = self._tie[request.channel]
        agents = self._agents
        best_id: str | None = None
        best_key: RankKey | None = None

        def full_key(agent_id: str) -> RankKey:
            return (-agents[agent_id].skill_score(skills), *ties[agent_id])

        for level in range(MAX_LEVEL, _level(skills[pivot]) - 1, -1):
            if best_key is not None and level + slack < -best_key[0]:
                break
            group = ready[level]
            if not group:
                continue
            for other in others:
                group = group & other
            group = self._narrow(group, request)
            if not group:
                continue
            if others:
                challenger = min(group, key=full_key)
                challenger_key = full_key(challenger)
            else:  # one skill: the whole group has the same score
                challenger = min(group, key=ties.__getitem__)
                challenger_key = (-level, *ties[challenger])
            if best_key is None or challenger_key < best_key:
                best_id, best_key = challenger, challenger_key
        return [agents[best_id]] if best_id else []

    def _excluded_counts(self, request: RoutingRequest) -> dict[str, int]:
        qualified = self._qualified(request)
        present = qualified & self._available
        with_room = present & self._room.get(request.channel, set())
        return {
            "lacking skill, team or language": len(self._agents) - len(qualified),
            "not available": len(qualified) - len(present),
            f"no capacity on {request.channel}": len(present) - len(with_room),
            "declined or let the offer expire": len(with_room & request.excluded),
        }

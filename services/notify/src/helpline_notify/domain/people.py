"""The tenant's people as identity announces them, and who a role stands for on one ticket."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    """A user of the tenant (from identity's events): who they are and whether they may act."""

    tenant_id: str
    user_id: str
    name: str
    email: str
    role: str
    teams: tuple[str, ...] = ()
    active: bool = True


@dataclass(frozen=True)
class RolePeople:
    """The active people the roles ``team_lead``, ``manager`` and ``watchers`` stand for on one
    ticket, looked up before planning (the domain does no I/O)."""

    team_leads: tuple[Person, ...] = ()
    managers: tuple[Person, ...] = ()
    watchers: tuple[Person, ...] = ()


def leads_of(people: tuple[Person, ...], team: str | None) -> tuple[Person, ...]:
    """The active leads of ``team`` among ``people`` (none without a team)."""
    if not team:
        return ()
    return tuple(
        person
        for person in people
        if person.active and person.role == "lead" and team in person.teams
    )


def account_manager_in(
    preferred_agents: tuple[str, ...], previous_assignee: str | None
) -> tuple[bool, str | None]:
    """What a routing decision's ``preferred_agents`` tell of the organisation's account manager:
    (whether they tell, the manager's agent id).

    Routing prefers the previous assignee (within its affinity window), then the account manager
    that ``PUT /v1/organizations/{id}/account-manager`` set, and publishes no event of its own
    for that call. None preferred: there is no manager. Only the previous assignee: it cannot be
    told whether they are the manager too, so nothing is learnt.
    """
    if not preferred_agents:
        return True, None
    others = [agent for agent in preferred_agents if agent != previous_assignee]
    return (True, others[-1]) if others else (False, None)


def may_watch_for(*, kind: str, role: str | None, acting_user: str | None, watcher: str) -> bool:
    """Whether a caller may make ``watcher`` watch a ticket, or stop it: an agent only
    themselves, leads and admins anyone, as may a key holding ``tickets:write`` (the tenant's
    integrations act for no one person; docs/permissions.md, ``tickets.watch``)."""
    if kind != "person" or role in ("admin", "lead"):
        return True
    return acting_user is not None and acting_user == watcher


def support_sender(agent_name: str, support_name: str | None, support_address: str) -> str:
    """The ``From`` of a person's reply: ``"<agent> via <support name>" <support address>``."""
    display = f"{agent_name} via {support_name}" if support_name else agent_name
    # Names come from identity's events: no line break may reach a header (RFC 5322 2.2).
    quoted = " ".join(display.split()).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{support_address}>'

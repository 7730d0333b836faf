"""The caller of a route, as routing's rules about agents see it."""

from fastapi import HTTPException

from helpline_routing.domain.model import KEY, Caller
from helpline_shared.runtime.auth import Principal


def caller_of(principal: Principal) -> Caller:
    """A person's role, user and teams; any key acts as ``KEY`` (its scope already allowed it)."""
    if principal.kind == "person":
        return Caller(role=principal.role, user_id=principal.user_id, teams=principal.teams)
    return KEY


def not_yours() -> HTTPException:
    """The 403 for acting on another agent's presence or offers."""
    return HTTPException(403, "this credential may not act for that agent")

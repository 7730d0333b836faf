"""Routing's domain errors, translated to HTTP problems at the edge."""


class RoutingError(Exception):
    """Base of routing's domain errors."""


class AgentNotFound(RoutingError):
    """No agent with that id for this tenant."""

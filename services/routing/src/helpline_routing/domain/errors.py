"""Routing's domain errors, translated to HTTP problems at the edge."""


class RoutingError(Exception):
    """Base of routing's domain errors."""


class AgentNotFound(RoutingError):
    """No agent with that id for this tenant."""


class AgentUserTaken(RoutingError):
    """Another agent of the tenant is already that identity user."""


class NotYourAgent(RoutingError):
    """The caller may not act for this agent (their presence or their offers)."""


class TicketNotRouted(RoutingError):
    """Routing has not seen that ticket for this tenant."""


class OfferNotFound(RoutingError):
    """No offer with that id for this tenant."""


class OfferNotOpen(RoutingError):
    """The offer was already accepted, declined, expired or handed back."""


class NoCapacityLeft(RoutingError):
    """The agent has no capacity left on the channel (override it explicitly to exceed)."""


class TicketClosed(RoutingError):
    """The ticket is solved or closed: it cannot be assigned."""

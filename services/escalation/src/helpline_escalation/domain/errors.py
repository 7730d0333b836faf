"""Escalation's domain errors, translated to HTTP problems at the edge."""


class EscalationError(Exception):
    """Base of escalation's domain errors."""


class TicketNotTracked(EscalationError):
    """No SLA clock of this tenant is known for that ticket."""


class UnknownTimerKind(EscalationError):
    """A timer this version of escalation does not know how to fire (kept for one that does)."""

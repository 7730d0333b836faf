"""Intake's domain errors, translated to HTTP problems at the edge."""


class IntakeError(Exception):
    """Base of intake's domain errors."""


class TicketNotFound(IntakeError):
    """No ticket with that id for this tenant."""

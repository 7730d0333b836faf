"""Escalation's domain errors, translated to HTTP problems at the edge."""


class EscalationError(Exception):
    """Base of escalation's domain errors."""


class TicketNotTracked(EscalationError):
    """No SLA clock of this tenant is known for that ticket."""


class UnknownTimerKind(EscalationError):
    """A timer this version of escalation does not know how to fire (kept for one that does)."""


class CalendarHasNoWorkingHours(EscalationError):
    """A business calendar that is neither around the clock nor has any working interval."""


class UnknownTimeZone(EscalationError):
    """A calendar's time zone that is not an IANA zone name."""


class InvalidSchedule(EscalationError):
    """A preventive schedule whose cron expression or time zone cannot be used."""


class TicketNotOpened(EscalationError):
    """Intake did not open a preventive ticket (unreachable or refused); retried later."""


class ScheduleNotFound(EscalationError):
    """A preventive schedule the tenant does not have."""

"""Intake's domain errors, translated to HTTP problems at the edge."""


class IntakeError(Exception):
    """Base of intake's domain errors."""


class TicketNotFound(IntakeError):
    """No ticket with that id for this tenant."""


class TicketClosed(IntakeError):
    """A closed ticket takes no more changes; a new request opens a new ticket."""


class CannotMerge(IntakeError):
    """A ticket cannot be merged into itself, nor into or out of a merged ticket."""


class NotFound(IntakeError):
    """No such record for this tenant (requester, organisation, mailbox, quarantined mail)."""


class AlreadyExists(IntakeError):
    """A record with that unique value exists already (a mailbox address, a requester email)."""


class UnparseableEmail(IntakeError):
    """Raised when a mail cannot be turned into a ticket or message; the reason is the text."""

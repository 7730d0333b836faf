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


class DomainNotVerified(IntakeError):
    """An address whose domain is not one of the tenant's verified domains."""

    def __init__(self, field: str, domain: str) -> None:
        super().__init__(
            f"the domain {domain} is not a verified domain of this tenant: add it "
            "with POST /v1/domains and verify it first"
        )
        self.field = field


class DomainClaimed(IntakeError):
    """The domain is verified by another tenant already (which one is never said)."""


class OwnershipNotProven(IntakeError):
    """The verification record of a pending domain was not found."""

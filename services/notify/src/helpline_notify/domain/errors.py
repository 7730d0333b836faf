"""Notify's domain errors, translated to HTTP problems or failed attempts at the edge."""


class NotifyError(Exception):
    """Base of notify's domain errors."""


class EndpointNotFound(NotifyError):
    """No webhook endpoint with that id for this tenant."""


class InvalidWebhookUrl(NotifyError):
    """A webhook URL that is not an absolute http(s) URL we may call."""


class UnknownEventType(NotifyError):
    """An endpoint subscription to an event type notify does not deliver."""


class DeliveryAttemptFailed(NotifyError):
    """One attempt to send an email or webhook did not reach its destination."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class DestinationRefused(DeliveryAttemptFailed):
    """A webhook destination that resolves to an address we must not call (SSRF guard)."""


class InvalidSubscription(NotifyError):
    """A subscription that cannot work as given (the message names the field)."""


class SubscriptionNotFound(NotifyError):
    """No subscription with that id for this tenant."""


class DeliveryNotFound(NotifyError):
    """No delivery with that id for this tenant."""


class InvalidTemplate(NotifyError):
    """A template that does not compile or render (the message names the part)."""


class NotResendable(NotifyError):
    """A delivery that was never composed (an email suppressed before rendering)."""


class NotCancellable(NotifyError):
    """A delivery that is no longer pending (or is being sent at this moment)."""


class UnknownPerson(NotifyError):
    """No active user of the tenant has that id (as far as identity told notify)."""


class NotYourWatch(NotifyError):
    """An agent tried to make someone else watch a ticket, or stop watching it."""


class NotWatching(NotifyError):
    """The user does not watch the ticket."""

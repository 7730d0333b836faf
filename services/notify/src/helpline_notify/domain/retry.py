"""When a failed delivery is tried again, and when notify gives up (the Standard Webhooks way)."""

from dataclasses import dataclass
from datetime import timedelta

RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
"""Wait after the 1st, 2nd, ... failed attempt; after the last one the delivery has failed."""

MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
JITTER = 0.10
"""Each wait varies by up to ±10% so retries of one outage do not arrive in lockstep."""
LONGEST_RETRY_AFTER = timedelta(hours=24)
"""A destination's ``Retry-After`` is honoured up to this; beyond it we keep our schedule."""

RETRY_AFTER_STATUSES = frozenset({429, 503})
GONE = 410


@dataclass(frozen=True)
class AttemptOutcome:
    """What one attempt achieved, in terms the retry policy understands."""

    delivered: bool
    error: str | None = None
    permanent: bool = False
    retry_after: timedelta | None = None
    endpoint_gone: bool = False

    @classmethod
    def success(cls) -> "AttemptOutcome":
        """The destination accepted the notification."""
        return cls(delivered=True)

    @classmethod
    def failure(cls, error: str, *, permanent: bool = False) -> "AttemptOutcome":
        """The attempt failed; ``permanent`` when retrying cannot help."""
        return cls(delivered=False, error=error, permanent=permanent)


def webhook_outcome(status_code: int, retry_after: timedelta | None) -> AttemptOutcome:
    """Judge a webhook response: 2xx succeeds, 410 disables the endpoint, the rest retry."""
    if 200 <= status_code < 300:
        return AttemptOutcome.success()
    if status_code == GONE:
        return AttemptOutcome(
            delivered=False,
            error="HTTP 410 Gone: endpoint disabled",
            permanent=True,
            endpoint_gone=True,
        )
    honoured = retry_after if status_code in RETRY_AFTER_STATUSES else None
    return AttemptOutcome(delivered=False, error=f"HTTP {status_code}", retry_after=honoured)


def retry_delay(
    attempts_made: int, *, retry_after: timedelta | None, jitter: float
) -> timedelta | None:
    """How long to wait before the next attempt, or None when no attempt follows.

    ``jitter`` is a number in [-1, 1] (the caller's randomness), scaled to ±10% of the wait.
    """
    if attempts_made >= MAX_ATTEMPTS:
        return None
    scheduled = RETRY_SCHEDULE[attempts_made - 1] * (1 + JITTER * max(-1.0, min(1.0, jitter)))
    if retry_after is not None:
        return max(scheduled, min(retry_after, LONGEST_RETRY_AFTER))
    return scheduled

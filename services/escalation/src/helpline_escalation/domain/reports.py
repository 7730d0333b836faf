"""SLA attainment over a window: how many clocks met or breached their target, and how fast.

A clock's outcome counts in the window where it was decided: met when it stopped in time,
breached at its deadline (stopped since or not). Running clocks are the ones open now and not
breached. The time to meet is start to stop less the time paused, of every clock that stopped
in the window, late ones included.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from helpline_shared.events import SlaMetric

REPORTED_METRICS: tuple[SlaMetric, ...] = ("first_response", "resolution")
MAX_REPORT_DAYS = 90
MEDIAN = 50
P90 = 90


@dataclass(frozen=True)
class OutcomeCounts:
    """Clocks of one metric: met and breached in the window, running now."""

    met: int = 0
    breached: int = 0
    running: int = 0


@dataclass(frozen=True)
class MetricReport:
    """One metric's attainment in the window and its times to meet."""

    met: int
    breached: int
    running: int
    median_seconds: float | None
    p90_seconds: float | None

    @property
    def attainment(self) -> float | None:
        """Met over decided (met and breached); None when nothing was decided."""
        decided = self.met + self.breached
        return self.met / decided if decided else None


def percentile_rank(count: int, percent: int) -> tuple[int, float]:
    """Where the ``percent`` percentile of ``count`` sorted values lies: rank (0: smallest), weight.

    Linear interpolation between the closest ranks, as PostgreSQL's ``percentile_cont``; integer
    arithmetic, so the database computes the same rank: ``(count - 1) * percent // 100``.
    """
    rank, remainder = divmod((count - 1) * percent, 100)
    return rank, remainder / 100


def percentile(values: Mapping[int, float], count: int, percent: int) -> float | None:
    """The ``percent`` percentile of ``count`` values, from those at its rank and the next."""
    if count == 0:
        return None
    rank, weight = percentile_rank(count, percent)
    if weight == 0:
        return values[rank]
    return values[rank] + weight * (values[rank + 1] - values[rank])

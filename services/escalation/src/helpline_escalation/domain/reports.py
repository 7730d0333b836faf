"""SLA attainment over a window: how many clocks met or breached their target, and how fast.

A clock's outcome counts in the window where it was decided: met when it stopped in time,
breached at its deadline (stopped since or not). Running clocks are the ones open now and not
breached. The time to meet is start to stop less the time paused, of every clock that stopped
in the window, late ones included.
"""

from dataclasses import dataclass

from helpline_shared.events import SlaMetric

REPORTED_METRICS: tuple[SlaMetric, ...] = ("first_response", "resolution")
MAX_REPORT_DAYS = 90
MEDIAN = 0.5
P90 = 0.9


@dataclass(frozen=True)
class OutcomeCounts:
    """Clocks of one metric: met and breached in the window, running now, stopped in it."""

    met: int = 0
    breached: int = 0
    running: int = 0
    completed: int = 0


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


def percentile_position(count: int, fraction: float) -> tuple[int, float]:
    """Where the ``fraction`` percentile of ``count`` sorted values lies: index and weight.

    Linear interpolation between the closest ranks (as PostgreSQL's ``percentile_cont``): the
    value is ``v[index] + weight * (v[index + 1] - v[index])``.
    """
    position = fraction * (count - 1)
    index = int(position)
    return index, position - index


def interpolate(neighbours: list[float], weight: float) -> float:
    """The percentile from the values at ``index`` and ``index + 1`` (the last has one)."""
    if len(neighbours) == 1 or weight == 0:
        return neighbours[0]
    return neighbours[0] + weight * (neighbours[1] - neighbours[0])

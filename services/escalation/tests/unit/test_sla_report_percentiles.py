"""The report's percentiles: linear interpolation between closest ranks, from two values each."""

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpline_escalation.domain.reports import percentile, percentile_rank

Durations = st.lists(st.floats(min_value=0, max_value=1e7), min_size=2, max_size=200)


@given(Durations)
def test_median_and_p90_match_the_inclusive_quantiles_of_all_values(values: list[float]) -> None:
    ordered = sorted(values)
    deciles = statistics.quantiles(ordered, n=10, method="inclusive")
    for percent, expected in ((50, statistics.median(ordered)), (90, deciles[8])):
        rank, _ = percentile_rank(len(ordered), percent)
        nearby = {index: ordered[index] for index in (rank, rank + 1) if index < len(ordered)}
        assert percentile(nearby, len(ordered), percent) == pytest.approx(expected, abs=1e-6)


def test_one_value_is_every_percentile_and_none_is_none() -> None:
    assert percentile({0: 42.0}, 1, 90) == 42.0
    assert percentile({}, 0, 50) is None

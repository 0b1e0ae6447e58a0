"""Wait estimates: the rule of thumb by default, recent service times, outliers trimmed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from office.estimate import (
    DEFAULT_SERVICE_SECONDS,
    RECENT_SAMPLES,
    estimated_wait_minutes,
    trimmed_mean,
)


def test_nobody_ahead_is_no_wait() -> None:
    assert estimated_wait_minutes(0, [], 0, DEFAULT_SERVICE_SECONDS) == 0
    assert estimated_wait_minutes(0, [], 3, None) == 0


def test_sakai_naka_rule_of_thumb_by_default() -> None:
    # About 10 minutes per 5 people waiting, one counter.
    assert estimated_wait_minutes(5, [], 1, DEFAULT_SERVICE_SECONDS) == 10
    assert estimated_wait_minutes(5, [], 1) == 10
    assert estimated_wait_minutes(1, [], 1) == 2


def test_counters_share_the_queue() -> None:
    assert estimated_wait_minutes(10, [], 2, 120.0) == 10
    assert estimated_wait_minutes(10, [], 3, 120.0) == 7  # 6.67 rounds up


def test_no_open_counter_counts_as_one() -> None:
    assert estimated_wait_minutes(5, [], 0, 120.0) == 10
    assert estimated_wait_minutes(5, [], -2, 120.0) == 10


def test_rounds_up_to_whole_minutes() -> None:
    assert estimated_wait_minutes(1, [61.0], 1, 120.0) == 2
    assert estimated_wait_minutes(1, [60.0], 1, 120.0) == 1
    assert estimated_wait_minutes(1, [1.0], 1, 120.0) == 1


def test_exact_products_do_not_round_up_on_float_noise() -> None:
    # 25 x 7.2 s is 180 s, but 7.2 is a hair above 7.2 in binary: still 3 minutes, not 4.
    assert estimated_wait_minutes(25, [7.2], 1, 120.0) == 3
    assert estimated_wait_minutes(3, [0.1 + 0.2] * 3, 1, 120.0) == 1
    assert estimated_wait_minutes(600, [0.1 + 0.2], 1, 120.0) == 3


def test_recent_samples_replace_the_default() -> None:
    assert estimated_wait_minutes(4, [300.0, 300.0], 2, 120.0) == 10


def test_only_the_most_recent_samples_count() -> None:
    old = [3_600.0] * 50
    recent = [60.0] * RECENT_SAMPLES
    assert estimated_wait_minutes(10, old + recent, 1, 120.0) == 10


def test_one_two_hour_case_does_not_wreck_the_estimate() -> None:
    samples = [120.0] * 9 + [7_200.0]
    assert trimmed_mean(samples) == 120.0
    assert estimated_wait_minutes(5, samples, 1, 120.0) == 10


def test_unusable_samples_are_ignored() -> None:
    samples = [float("nan"), -30.0, float("inf")]
    assert estimated_wait_minutes(5, samples, 1, 120.0) == 10
    assert estimated_wait_minutes(5, [*samples, 60.0], 1, 120.0) == 5


def test_no_data_and_no_default_means_no_estimate() -> None:
    assert estimated_wait_minutes(5, [], 1, None) is None
    assert estimated_wait_minutes(5, [60.0], 1, None) == 5


@pytest.mark.parametrize("default", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_default_is_refused(default: float) -> None:
    with pytest.raises(ValueError):
        estimated_wait_minutes(5, [], 1, default)


def test_negative_people_ahead_is_refused() -> None:
    with pytest.raises(ValueError):
        estimated_wait_minutes(-1, [], 1, 120.0)


def test_trimmed_mean_small_samples_are_plain_means() -> None:
    assert trimmed_mean([1.0, 2.0, 30.0]) == 11.0
    assert trimmed_mean([5.0]) == 5.0


def test_trimmed_mean_drops_ten_percent_each_end() -> None:
    samples = [float(n) for n in range(1, 21)]  # 20 samples: drop 2 low, 2 high
    assert trimmed_mean(samples) == pytest.approx(sum(range(3, 19)) / 16)
    assert trimmed_mean(list(reversed(samples))) == trimmed_mean(samples)


def test_trimmed_mean_refuses_nothing_and_bad_proportions() -> None:
    with pytest.raises(ValueError):
        trimmed_mean([])
    with pytest.raises(ValueError):
        trimmed_mean([1.0], proportion=0.5)


@given(st.lists(st.floats(min_value=0, max_value=1e5), min_size=1, max_size=40))
def test_trimmed_mean_lies_within_the_samples(samples: list[float]) -> None:
    mean = trimmed_mean(samples)
    assert min(samples) - 1e-6 <= mean <= max(samples) + 1e-6


@given(
    st.integers(min_value=1, max_value=500),
    st.lists(st.floats(min_value=1, max_value=1e4), max_size=30),
    st.integers(min_value=1, max_value=10),
)
def test_estimate_grows_with_the_queue_and_shrinks_with_counters(
    people: int, samples: list[float], counters: int
) -> None:
    here = estimated_wait_minutes(people, samples, counters, 120.0)
    assert here is not None and here >= 1
    more_people = estimated_wait_minutes(people + 1, samples, counters, 120.0)
    more_counters = estimated_wait_minutes(people, samples, counters + 1, 120.0)
    assert more_people is not None and more_people >= here
    assert more_counters is not None and more_counters <= here
    per_person = trimmed_mean(samples[-RECENT_SAMPLES:]) if samples else 120.0
    exact = people * per_person / counters / 60
    assert exact - 1e-6 <= here < exact + 1

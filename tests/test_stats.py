"""odebench.stats: intervals and tests checked against scipy and against hand-computed values."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sp

from odebench.stats import (
    Sample,
    compare_samples,
    mann_whitney,
    mann_whitney_min_p,
    mean_ci,
    mean_sd,
    t_halfwidth,
    welch,
)


def test_mean_ci_by_hand():
    # mean 0.6, sd 0.1, n 3: t(0.975, 2) = 4.302653, half-width 4.302653 * 0.1 / sqrt(3) = 0.248414
    low, high = mean_ci([0.5, 0.6, 0.7])
    assert low == pytest.approx(0.6 - 0.248414, abs=1e-6)
    assert high == pytest.approx(0.6 + 0.248414, abs=1e-6)
    assert mean_sd([0.5, 0.6, 0.7]) == pytest.approx((0.6, 0.1))


@pytest.mark.parametrize("values", [[0.9792, 0.9771, 0.9813], [1.0, 2.0], [3.1, 2.7, 2.9, 3.4, 3.0],
                                    [5.0, 5.0, 5.0]])
@pytest.mark.parametrize("confidence", [0.95, 0.99])
def test_mean_ci_matches_scipy(values, confidence):
    n = len(values)
    mean, sem = sum(values) / n, sp.sem(values)
    expected = (mean, mean) if sem == 0 else sp.t.interval(confidence, n - 1, loc=mean, scale=sem)
    assert mean_ci(values, confidence) == pytest.approx(expected)


def test_mean_ci_needs_two_values():
    assert mean_ci([0.5]) is None and mean_ci([]) is None
    assert mean_ci([0.5, float("nan")]) is None  # NaN is no value
    assert t_halfwidth(None, 3) is None and t_halfwidth(0.1, 1) is None


def test_welch_by_hand():
    # a = 1,2,3; b = 4,5,6: diff 3, se = sqrt(1/3 + 1/3) = 0.816497, df = 4, t = 3.674235
    # p = 2 * t.sf(3.674235, 4) = 0.021311; half-width t(0.975, 4) * se = 2.776445 * 0.816497
    diff, low, high, p = welch(Sample.of([1, 2, 3]), Sample.of([4, 5, 6]))
    assert diff == 3
    assert p == pytest.approx(0.021311, abs=1e-6)
    assert (low, high) == pytest.approx((3 - 2.266958, 3 + 2.266958), abs=1e-6)


@pytest.mark.parametrize("a, b", [
    ([0.81, 0.85, 0.83], [0.80, 0.86, 0.81]),
    ([2.0, 2.1, 1.9, 2.05], [2.4, 2.5, 2.3]),
    ([10.0, 12.0], [11.0, 15.0, 13.0, 14.0, 12.5]),
])
def test_welch_matches_scipy(a, b):
    diff, low, high, p = welch(Sample.of(a), Sample.of(b), confidence=0.95)
    result = sp.ttest_ind(b, a, equal_var=False)
    ci = result.confidence_interval(0.95)
    assert p == pytest.approx(result.pvalue)
    assert (low, high) == pytest.approx((ci.low, ci.high))
    assert diff == pytest.approx(sum(b) / len(b) - sum(a) / len(a))
    # from n, mean and sd alone (what summary.csv holds): the same numbers
    sa, sb = Sample.of(a), Sample.of(b)
    assert welch(Sample(sa.n, sa.mean, sa.sd), Sample(sb.n, sb.mean, sb.sd)) == pytest.approx((diff, low, high, p))


def test_welch_constant_samples():
    assert welch(Sample.of([8, 8, 8]), Sample.of([10, 10, 10])) == (2, 2, 2, 0.0)
    assert welch(Sample.of([8, 8]), Sample.of([8, 8, 8])) == (0, 0, 0, 1.0)


def test_mann_whitney_matches_scipy_and_min_p():
    a, b = [2.0, 2.1, 1.95, 2.05, 2.02], [2.4, 2.5, 2.3, 2.45]
    assert mann_whitney(a, b) == pytest.approx(sp.mannwhitneyu(b, a, alternative="two-sided").pvalue)
    assert mann_whitney_min_p(3, 3) == pytest.approx(0.1)        # 2 / C(6, 3)
    assert mann_whitney_min_p(4, 4) == pytest.approx(2 / 70)
    # the smallest p is what complete separation gives
    assert mann_whitney([1, 2, 3, 4], [5, 6, 7, 8]) == pytest.approx(2 / 70)


def test_compare_samples_picks_the_test():
    one = compare_samples(Sample.of([0.8]), Sample.of([0.75]))
    assert not one.tested and one.diff == pytest.approx(-0.05) and "n too small" in one.test
    seeds = compare_samples(Sample.of([0.81, 0.85, 0.83]), Sample.of([0.70, 0.72, 0.71]))
    assert seeds.tested and seeds.test == "Welch t, 3 vs 3 seeds" and seeds.p < 0.05
    assert seeds.high < 0  # the whole interval below zero: a real drop
    base = [2.0, 2.1, 1.95, 2.05, 2.02, 1.98]
    slow = [3.0, 3.1, 2.95, 3.05, 3.02, 2.98]
    epochs = compare_samples(Sample.of(base, "epochs"), Sample.of(slow, "epochs"))
    assert epochs.test == "Mann-Whitney U, 6 vs 6 epochs"
    assert epochs.p == pytest.approx(sp.mannwhitneyu(slow, base, alternative="two-sided").pvalue)
    # 3 vs 3 epochs cannot reach p < 0.05 with Mann-Whitney U (min p 0.1): Welch instead
    few = compare_samples(Sample.of(base[:3], "epochs"), Sample.of(slow[:3], "epochs"))
    assert few.test == "Welch t, 3 vs 3 epochs" and few.p < 0.05
    # the interval's level follows alpha
    wide = compare_samples(Sample.of([0.81, 0.85, 0.83]), Sample.of([0.70, 0.72, 0.71]), alpha=0.01)
    assert wide.confidence == 0.99 and wide.low < seeds.low and wide.high > seeds.high
    assert not math.isnan(wide.p)

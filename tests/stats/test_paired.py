"""geomlib.stats.paired: intervals and tests on cases with known answers (shifts, nulls, exact
enumeration of small permutation tests)."""
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geomlib.stats.paired import (Comparison, independent_difference, one_sample, paired_difference,
                                  verdict)


def test_paired_shift_is_covered_and_detected():
    rng = np.random.default_rng(1)
    before = rng.normal(size=40)
    after = before + 0.8 + 0.3 * rng.normal(size=40)
    c = paired_difference(after, before, seed=2)
    assert c.kind == "paired" and c.n == 40 and c.n_dropped == 0
    assert c.ci_low < 0.8 < c.ci_high
    assert c.ci_low < c.estimate < c.ci_high
    assert math.isclose(c.estimate, float(np.mean(after - before)))
    assert c.p_value < 1e-3
    assert verdict(c, +1) == "supported" and verdict(c, -1) == "not supported"


def test_paired_ci_coverage_near_nominal():
    # 60 independent shifted samples: a 95% interval should cover the true shift in most of them
    rng = np.random.default_rng(3)
    covered = 0
    for i in range(60):
        d = 0.5 + rng.normal(size=30)
        c = paired_difference(d, np.zeros(30), n_resamples=999, seed=i)
        covered += c.ci_low < 0.5 < c.ci_high
    assert covered >= 50  # binomial(60, 0.95): P(< 50) ~ 1e-3


def test_paired_null_p_values_not_small():
    rng = np.random.default_rng(4)
    ps = np.array([paired_difference(rng.normal(size=25), rng.normal(size=25), n_resamples=999, seed=i).p_value
                   for i in range(40)])
    assert (ps < 0.05).sum() <= 7  # binomial(40, 0.05): P(> 7) ~ 1e-3
    assert 0.3 < ps.mean() < 0.7   # roughly uniform


def _exact_signflip_p(d):
    obs = abs(d.mean())
    stats_ = [abs((d * np.array(s)).mean()) for s in itertools.product((1, -1), repeat=len(d))]
    return np.mean([s >= obs - 1e-12 for s in stats_])


def test_paired_permutation_exact_by_enumeration():
    after = np.array([1.3, 0.2, 2.1, 0.9, 1.7, -0.4])
    before = np.array([0.1, 0.5, 0.3, 0.2, 0.4, 0.0])
    c = paired_difference(after, before, n_resamples=9999)
    assert c.p_value == pytest.approx(_exact_signflip_p(after - before))
    # all differences positive, n = 5: only the two all-same-sign flips reach |mean|: p = 2/32
    c5 = paired_difference(np.arange(1.0, 6.0), np.zeros(5), n_resamples=9999)
    assert c5.p_value == pytest.approx(2 / 32)


def test_independent_permutation_exact_by_enumeration():
    a = np.array([2.0, 3.5, 1.9, 4.0])
    b = np.array([0.1, 1.0, 2.2, -0.5, 0.3])
    c = independent_difference(a, b, n_resamples=9999)
    pooled = np.concatenate([a, b])
    obs = a.mean() - b.mean()
    null = []
    for idx in itertools.combinations(range(9), 4):
        m = np.zeros(9, bool)
        m[list(idx)] = True
        null.append(pooled[m].mean() - pooled[~m].mean())
    null = np.array(null)
    # SciPy's two-sided p-value: twice the smaller tail (the null is not symmetric here), capped at 1
    p = min(1.0, 2 * min(np.mean(null >= obs - 1e-12), np.mean(null <= obs + 1e-12)))
    assert c.p_value == pytest.approx(p)
    assert c.estimate == pytest.approx(a.mean() - b.mean())
    assert (c.n_a, c.n_b, c.n) == (4, 5, 9)


def test_independent_shift_covered():
    rng = np.random.default_rng(5)
    a, b = rng.normal(1.0, 1, size=40), rng.normal(0.0, 1, size=30)
    c = independent_difference(a, b, seed=1)
    assert c.ci_low < 1.0 < c.ci_high and c.p_value < 0.01


def test_nan_pairs_dropped_and_counted():
    after = np.array([1.0, np.nan, 2.0, 3.0, 2.5])
    before = np.array([0.0, 0.0, np.nan, 1.0, 0.5])
    c = paired_difference(after, before)
    assert (c.n, c.n_dropped) == (3, 2)
    assert c.estimate == pytest.approx(np.mean([1.0, 2.0, 2.0]))


def test_too_few_and_constant():
    c = paired_difference([1.0, 2.0], [0.0, 0.0])
    assert c.n == 2 and math.isnan(c.estimate) and verdict(c) == "inconclusive"
    # constant differences: BCa undefined, the percentile interval is the point itself
    k = one_sample(np.full(10, 0.3))
    assert k.ci_low == pytest.approx(0.3) and k.ci_high == pytest.approx(0.3) and verdict(k) == "supported"
    with pytest.raises(ValueError):
        paired_difference([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        verdict(k, 0)


def test_verdict_inconclusive_when_interval_covers_zero():
    c = Comparison("paired", 0.1, -0.2, 0.4, 0.5, 30)
    assert verdict(c, +1) == "inconclusive" and verdict(c, -1) == "inconclusive"
    # four planes all moving up: the bootstrap interval is off 0 but the exact p is 2/16
    four = paired_difference([1.0, 1.2, 0.9, 1.1], [0.0, 0.1, 0.0, 0.05])
    assert four.ci_low > 0 and four.p_value == pytest.approx(2 / 16)
    assert verdict(four, +1) == "inconclusive"
    assert c.interval() == "+0.10 [-0.20, +0.40]"


def test_interval_keeps_two_significant_digits_for_small_effects():
    small = Comparison("paired", 0.0026394, 0.0012246, 0.0039753, 0.001, 61)
    assert small.interval() == "+0.0026 [+0.0012, +0.0040]"
    # the sign and the side of 0 stay readable: no bound prints as +0.00 unless it is 0
    assert "+0.00 " not in small.interval() and small.interval(digits=2) == "+0.00 [+0.00, +0.00]"
    # a small estimate is shown to the interval's precision; a bound always shows its side of 0
    assert Comparison("paired", 0.0048, -0.0568, 0.0540, 0.87, 25).interval() == "+0.00 [-0.06, +0.05]"
    assert Comparison("paired", 0.001, -50.0, 50.0, 0.9, 25).interval() == "+0.00 [-50.00, +50.00]"
    assert Comparison("paired", 0.028, -0.0049, 0.070, 0.14, 64).interval() == "+0.028 [-0.005, +0.070]"
    # e-notation at the extremes, infinities named, no negative zero
    assert Comparison("paired", 1e-12, 0.0, 2e-12, 0.5, 5).interval() == "+1.00e-12 [+0.00e+00, +2.00e-12]"
    assert Comparison("paired", 1e300, 9e299, 2e300, 0.5, 5).interval() == "+1.00e+300 [+9.00e+299, +2.00e+300]"
    assert Comparison("paired", 0.1, -math.inf, 0.3, 0.5, 5).interval() == "+0.10 [-inf, +0.30]"
    assert Comparison("paired", -0.0, -0.001, 0.001, 0.5, 5).interval() == "+0.0000 [-0.0010, +0.0010]"
    mid = Comparison("paired", 0.094, 0.078, 0.111, 0.001, 60)
    assert mid.interval() == "+0.09 [+0.08, +0.11]"
    assert Comparison("paired", 0.0, 0.0, 0.0, 1.0, 5).interval() == "+0.00 [+0.00, +0.00]"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(-50, 50, allow_nan=False).filter(lambda v: v == 0 or abs(v) > 1e-5), min_size=3, max_size=3))
def test_interval_prints_every_value_faithfully(v):
    """Property: each printed number is within half a unit of its last digit of the value, and a
    nonzero bound never prints as zero (which side of 0 it lies on stays readable)."""
    est, lo, hi = v
    text = Comparison("paired", est, lo, hi, 0.5, 10).interval()
    printed = [float(t) for t in text.replace("[", " ").replace("]", " ").replace(",", " ").split()]
    digits = len(text.split()[0].split(".")[1])
    assert 2 <= digits <= 8 and (est != 0 or text.startswith("+"))
    for value, shown in zip((est, lo, hi), printed):
        assert abs(shown - value) <= 0.5 * 10.0 ** -digits + 1e-12
    for value, shown in zip((lo, hi), printed[1:]):
        assert value == 0 or shown != 0

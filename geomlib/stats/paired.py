"""Statistics over many planes (issue 14): the mean of a per-plane statistic compared between
conditions, with a bootstrap confidence interval and a permutation test, and a verdict read from
the interval.

* :func:`paired_difference` — the same planes in two conditions (e.g. trained minus
  initialisation, or GELU minus ReLU on the same anchors): mean of the per-plane differences;
  percentile-BCa bootstrap CI of that mean over planes (:func:`scipy.stats.bootstrap`), and the
  sign-flip permutation test of "the differences are symmetric about 0"
  (:func:`scipy.stats.permutation_test` with ``permutation_type='samples'``; exact by enumeration
  when ``2**n <= n_resamples``).
* :func:`independent_difference` — different planes in the two groups (e.g. distinct-class minus
  same-class planes): difference of means, bootstrap CI resampling each group, and the
  label-permutation test (``permutation_type='independent'``).
* :func:`one_sample` — the mean of one sample against 0 (e.g. a per-stage contrast), with the
  sign-flip test.
* :func:`verdict` — ``supported`` when the whole 95% interval lies on the side the claim predicts
  and the permutation test gives p < 0.05, ``not supported`` when both hold on the other side,
  ``inconclusive`` otherwise (or when fewer than :data:`MIN_N` planes are usable).

Pairs or values with a NaN (e.g. a boundary contrast on a plane with no class change) are left
out and counted (``n_dropped``). Source: Efron & Tibshirani (1993), *An Introduction to the
Bootstrap*, ch. 14 (BCa) and ch. 15 (permutation tests); SciPy's implementations are used as is.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

MIN_N = 3
VERDICTS = ("supported", "not supported", "inconclusive")


@dataclass(frozen=True)
class Comparison:
    """Result of a comparison: ``estimate`` (mean difference or mean), its ``ci_low``/``ci_high``
    (``confidence`` bootstrap interval), two-sided permutation ``p_value``, ``n`` usable planes
    (pairs; for two groups ``n`` = n_a + n_b with ``n_a``, ``n_b``), ``n_dropped`` NaN ones,
    ``kind`` ("paired", "independent", "one-sample")."""

    kind: str
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    n_dropped: int = 0
    confidence: float = 0.95
    n_a: int | None = None
    n_b: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def interval(self, digits: int | None = None) -> str:
        """``+0.12 [+0.05, +0.20]`` (``n/a`` when undefined; an infinite bound prints ``+inf``/``-inf``).

        ``digits=None``: two decimals; more for small effects so that the largest value keeps two
        significant digits (``+0.0026 [+0.0012, +0.0040]``, not ``+0.00 [+0.00, +0.00]``) and so that
        a nonzero bound never prints as zero (``+0.028 [-0.005, +0.070]``: which side of 0 a bound
        lies on decides the verdict); at most 8. The estimate is not widened for: it is shown to the
        interval's precision. Values of 1e6 or more, or all below 1e-6, print in e-notation."""
        if not math.isfinite(self.estimate):
            return "n/a"
        finite = [abs(v) for v in (self.estimate, self.ci_low, self.ci_high) if math.isfinite(v)]
        top = max(finite)
        if digits is None and (top >= 1e6 or 0 < top < 1e-6):
            def fmt(v):
                return f"{v + 0.0:+.2e}"
        else:
            if digits is None:
                digits = 2 if top >= 0.05 or top == 0 else 1 - math.floor(math.log10(top))
                for b in (self.ci_low, self.ci_high):
                    while math.isfinite(b) and b != 0 and digits < 8 and abs(b) < 0.5 * 10.0 ** -digits:
                        digits += 1
                digits = min(digits, 8)

            def fmt(v):
                return f"{v + 0.0:+.{digits}f}"  # + 0.0 turns -0.0 into 0.0

        def show(v):
            return "n/a" if math.isnan(v) else ("+inf" if v > 0 else "-inf") if math.isinf(v) else fmt(v)
        return f"{fmt(self.estimate)} [{show(self.ci_low)}, {show(self.ci_high)}]"


def _mean_diff_paired(x, y, axis=-1):
    return np.mean(x - y, axis=axis)


def _mean_diff(x, y, axis=-1):
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _ci(data, statistic, *, paired: bool, confidence: float, n_resamples: int, rng) -> tuple[float, float]:
    """BCa bootstrap interval; the percentile interval when BCa is undefined (constant data)."""
    for method in ("BCa", "percentile"):
        try:
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = stats.bootstrap(data, statistic, paired=paired, vectorized=True, confidence_level=confidence,
                                      n_resamples=n_resamples, method=method, random_state=rng)
            lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
            if math.isfinite(lo) and math.isfinite(hi):
                return lo, hi
        except Exception:  # scipy raises on degenerate BCa; fall back to the percentile interval
            continue
    return math.nan, math.nan


def _arr(a) -> np.ndarray:
    v = np.asarray(a, dtype=np.float64).ravel()
    return v


def paired_difference(after, before, *, confidence: float = 0.95, n_resamples: int = 9999,
                      seed: int = 0) -> Comparison:
    """Mean of ``after - before`` over pairs (``shape=[n]`` each), bootstrap CI and sign-flip test.

    Raises ``ValueError`` if the two arrays differ in length.
    """
    a, b = _arr(after), _arr(before)
    if a.shape != b.shape:
        raise ValueError(f"paired samples must have the same length, got {a.size} and {b.size}")
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    n, dropped = int(a.size), int((~ok).sum())
    if n < MIN_N:
        return Comparison("paired", math.nan, math.nan, math.nan, math.nan, n, dropped, confidence)
    rng = np.random.default_rng(seed)
    est = float(np.mean(a - b))
    lo, hi = _ci((a, b), _mean_diff_paired, paired=True, confidence=confidence, n_resamples=n_resamples, rng=rng)
    p = stats.permutation_test((a, b), _mean_diff_paired, permutation_type="samples", vectorized=True,
                               n_resamples=n_resamples, alternative="two-sided", random_state=rng).pvalue
    return Comparison("paired", est, lo, hi, float(p), n, dropped, confidence)


def one_sample(values, *, confidence: float = 0.95, n_resamples: int = 9999, seed: int = 0) -> Comparison:
    """Mean of ``values`` against 0: :func:`paired_difference` of ``values`` and zeros."""
    v = _arr(values)
    c = paired_difference(v, np.zeros_like(v), confidence=confidence, n_resamples=n_resamples, seed=seed)
    return Comparison("one-sample", c.estimate, c.ci_low, c.ci_high, c.p_value, c.n, c.n_dropped, confidence)


def independent_difference(a, b, *, confidence: float = 0.95, n_resamples: int = 9999,
                           seed: int = 0) -> Comparison:
    """``mean(a) - mean(b)`` for two independent groups of planes, bootstrap CI (each group
    resampled) and the two-sided label-permutation test."""
    x, y = _arr(a), _arr(b)
    ox, oy = np.isfinite(x), np.isfinite(y)
    x, y = x[ox], y[oy]
    dropped = int((~ox).sum() + (~oy).sum())
    n = int(x.size + y.size)
    if x.size < MIN_N or y.size < MIN_N:
        return Comparison("independent", math.nan, math.nan, math.nan, math.nan, n, dropped, confidence,
                          int(x.size), int(y.size))
    rng = np.random.default_rng(seed)
    est = float(x.mean() - y.mean())
    lo, hi = _ci((x, y), _mean_diff, paired=False, confidence=confidence, n_resamples=n_resamples, rng=rng)
    p = stats.permutation_test((x, y), _mean_diff, permutation_type="independent", vectorized=True,
                               n_resamples=n_resamples, alternative="two-sided", random_state=rng).pvalue
    return Comparison("independent", est, lo, hi, float(p), n, dropped, confidence, int(x.size), int(y.size))


def verdict(c: Comparison, expected_sign: int = +1, alpha: float = 0.05) -> str:
    """``supported`` / ``not supported`` / ``inconclusive`` from ``c`` and the sign the claim
    predicts (``+1``: larger, ``-1``: smaller).

    ``supported``: the whole interval lies on the predicted side **and** the permutation test
    rejects "no difference" at level ``alpha``; ``not supported``: the same on the other side;
    otherwise (interval covering 0, p >= ``alpha``, undefined values, fewer than :data:`MIN_N`
    planes) ``inconclusive``. Both are required because with few planes the bootstrap interval
    is too narrow (four planes all moving one way give an interval off 0, but an exact sign-flip
    p-value of 2/16 = 0.125).
    """
    if expected_sign not in (1, -1):
        raise ValueError(f"expected_sign must be +1 or -1, got {expected_sign}")
    lo, hi = c.ci_low * expected_sign, c.ci_high * expected_sign
    lo, hi = min(lo, hi), max(lo, hi)
    if not (math.isfinite(lo) and math.isfinite(hi)) or c.n < MIN_N or not (c.p_value < alpha):
        return "inconclusive"
    if lo > 0:
        return "supported"
    if hi < 0:
        return "not supported"
    return "inconclusive"

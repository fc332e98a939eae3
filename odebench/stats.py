"""Confidence intervals and two-sample tests for the report tables and ``odebench compare``.

- The interval of a mean over n seeds is Student's t interval,
  ``mean ± t(1 - α/2, n - 1) · sd / √n`` (sd with ddof=1). With 3 seeds a bootstrap has only
  10 distinct resamples and undercovers; the t interval is the standard choice and is wide
  where it should be (n = 2: ± 12.7 sd/√2).
- A difference of two groups (``candidate − baseline``) gets Welch's t interval and test
  (unequal variances, Welch–Satterthwaite degrees of freedom): it needs only each side's n,
  mean and sd, so it works from ``summary.csv`` too.
- Repeated timings (a run's per-epoch times) are tested with the Mann-Whitney U test, as asv
  does, when the samples are large enough for its smallest attainable p-value to fall below
  α (two-sided exact: ``2 / C(n_a + n_b, n_a)``, so at least 4 against 4 for α = 0.05);
  otherwise with Welch. Their interval is Welch's, on the difference of the mean times.
- With fewer than two values on either side there is no test: the result says so
  (``tested`` False) and leaves it to the caller to decide.

scipy is imported inside the functions: the CLI's start-up never pays for it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95
ALPHA = 0.05


def _clean(values: Sequence[float] | None) -> list[float]:
    return [float(v) for v in values or () if v is not None and not math.isnan(float(v))]


def mean_sd(values: Sequence[float]) -> tuple[float | None, float | None]:
    """The mean and the sample standard deviation (ddof=1; None when n < 2)."""
    values = _clean(values)
    if not values:
        return None, None
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


@functools.lru_cache(maxsize=256)
def t_quantile(confidence: float, df: float) -> float:
    """The two-sided critical value of Student's t: ``t.ppf(0.5 + confidence / 2, df)``."""
    from scipy import stats

    return float(stats.t.ppf(0.5 + confidence / 2, df))


def t_halfwidth(sd: float | None, n: int, confidence: float = CONFIDENCE) -> float | None:
    """Half the width of the t interval of a mean of ``n`` values with sample sd ``sd``
    (None when n < 2 or sd is unknown)."""
    if n < 2 or sd is None or math.isnan(sd):
        return None
    return t_quantile(confidence, n - 1) * sd / math.sqrt(n)


def mean_ci(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The t interval ``(low, high)`` of the mean of ``values``; None for fewer than 2."""
    values = _clean(values)
    mean, sd = mean_sd(values)
    half = t_halfwidth(sd, len(values), confidence)
    return None if half is None else (mean - half, mean + half)


@dataclass(frozen=True)
class Sample:
    """One side of a comparison: its size, mean and sample sd, and the values themselves
    when known (a summary CSV holds only n, mean and sd). ``unit`` names what was counted:
    ``seeds`` or ``epochs``."""

    n: int
    mean: float | None
    sd: float | None
    values: tuple[float, ...] | None = None
    unit: str = "seeds"

    @classmethod
    def of(cls, values: Sequence[float], unit: str = "seeds") -> Sample:
        values = _clean(values)
        mean, sd = mean_sd(values)
        return cls(len(values), mean, sd, tuple(values), unit)


@dataclass(frozen=True)
class Difference:
    """``candidate − baseline``: the difference of the means, its interval (None when
    untested), the two-sided p-value and the test's name; ``tested`` is False when either
    side has fewer than two values (``test`` then says why)."""

    diff: float | None
    low: float | None
    high: float | None
    p: float | None
    test: str
    confidence: float

    @property
    def tested(self) -> bool:
        return self.p is not None


def welch(a: Sample, b: Sample, confidence: float = CONFIDENCE) -> tuple[float, float, float, float]:
    """Welch's test of ``mean(b) − mean(a)``: (difference, low, high, two-sided p). Both sides
    need n ≥ 2. Two constant samples (sd 0 on both sides) have a certain difference: p is 0
    when the means differ and 1 when they agree, the interval a point."""
    from scipy import stats

    diff = b.mean - a.mean
    va, vb = (a.sd or 0.0) ** 2 / a.n, (b.sd or 0.0) ** 2 / b.n
    se = math.sqrt(va + vb)
    if se == 0 or se <= 1e-12 * max(abs(a.mean), abs(b.mean), 1e-300):
        return diff, diff, diff, (1.0 if diff == 0 else 0.0)
    df = (va + vb) ** 2 / (va ** 2 / (a.n - 1) + vb ** 2 / (b.n - 1))
    p = float(stats.ttest_ind_from_stats(b.mean, b.sd or 0.0, b.n, a.mean, a.sd or 0.0, a.n,
                                         equal_var=False).pvalue)
    half = t_quantile(confidence, df) * se
    return diff, diff - half, diff + half, p


def mann_whitney_min_p(n_a: int, n_b: int) -> float:
    """The smallest two-sided p-value the exact Mann-Whitney U test can give for these sizes."""
    return min(1.0, 2.0 / math.comb(n_a + n_b, n_a))


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test of ``a`` against ``b`` (scipy: exact for
    small samples without ties, normal approximation otherwise)."""
    from scipy import stats

    return float(stats.mannwhitneyu(list(b), list(a), alternative="two-sided").pvalue)


def compare_samples(a: Sample, b: Sample, alpha: float = ALPHA) -> Difference:
    """``b`` (candidate) against ``a`` (baseline) at confidence ``1 − alpha``: Welch's
    interval, and Mann-Whitney's p for repeated timings (``unit == "epochs"``, raw values on
    both sides, enough of them for p < alpha to be possible), Welch's p otherwise."""
    confidence = 1.0 - alpha
    if a.mean is None or b.mean is None:
        return Difference(None, None, None, None, "none: no value", confidence)
    diff = b.mean - a.mean
    if a.n < 2 or b.n < 2 or a.sd is None or b.sd is None:
        return Difference(diff, None, None, None, f"none: n too small ({a.n} vs {b.n} {a.unit})",
                          confidence)
    diff, low, high, p = welch(a, b, confidence)
    test = f"Welch t, {a.n} vs {b.n} {a.unit}"
    if (a.unit == "epochs" and a.values is not None and b.values is not None
            and mann_whitney_min_p(a.n, b.n) < alpha):
        p = mann_whitney(a.values, b.values)
        test = f"Mann-Whitney U, {a.n} vs {b.n} {a.unit}"
    return Difference(diff, low, high, p, test, confidence)

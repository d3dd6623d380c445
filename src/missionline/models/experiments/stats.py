"""Frequentist comparisons of a treatment with the control, on per-variant sufficient statistics.

* Conversions: the two-proportion z-test with the pooled variance under the null (as
  ``statsmodels.stats.proportion.proportions_ztest``); the interval of the absolute lift is the
  Wald interval with unpooled variances (``confint_proportions_2indep(method="wald")``).
* Values (and CUPED-adjusted outcomes): Welch's t-test, with Welch-Satterthwaite degrees of
  freedom for the p-value and the absolute interval (as ``scipy.stats.ttest_ind(equal_var=False)``).
* The relative lift ``treatment / control - 1`` has a delta-method interval (normal quantile).
* Several treatments: Holm-adjusted p-values; the intervals use the Bonferroni level
  ``alpha / comparisons`` (Holm has no matching intervals; Bonferroni's are never narrower).
* Sample-ratio mismatch: Pearson's chi-square goodness of fit of the units per variant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from scipy import stats as sps

Interval = tuple[float, float]
STANDARD_NORMAL = NormalDist()


@dataclass(frozen=True)
class CovariateSums:
    """Sums of a pre-assignment covariate x over a variant's units: x, x squared and x times y."""

    total: float
    total_squares: float
    cross: float


@dataclass(frozen=True)
class VariantStats:
    """A variant's sufficient statistics: units, sum and sum of squares of the outcome."""

    variant: str
    n: int
    total: float
    total_squares: float
    conversions: int | None = None  # converted units; for values, units with a non-zero value
    covariate: CovariateSums | None = None

    @property
    def mean(self) -> float:
        """The mean outcome per unit (the conversion rate for a conversion)."""
        return self.total / self.n if self.n else math.nan

    @property
    def sample_variance(self) -> float:
        """The unbiased variance of the outcome over units (nan under two units)."""
        if self.n < 2:
            return math.nan
        return max(self.total_squares - self.n * self.mean**2, 0.0) / (self.n - 1)

    def moments(self, binomial: bool) -> Moments:
        """Mean and per-unit variance: p(1 - p) for a conversion, else the sample variance."""
        variance = self.mean * (1 - self.mean) if binomial else self.sample_variance
        return Moments(self.n, self.mean, variance)


@dataclass(frozen=True)
class Moments:
    """What a comparison needs of a variant: units, mean and per-unit variance."""

    n: int
    mean: float
    variance: float

    @property
    def sampling_variance(self) -> float:
        """The variance of the mean: variance / n."""
        return self.variance / self.n


@dataclass(frozen=True)
class LiftEstimate:
    """A treatment against the control: lifts, their intervals and the two-sided p-value."""

    lift_abs: float
    lift_abs_ci: Interval
    lift_rel: float | None
    lift_rel_ci: Interval | None
    p_value: float


def normal_quantile(p: float) -> float:
    """The standard normal quantile."""
    return STANDARD_NORMAL.inv_cdf(p)


def normal_two_sided(z: float) -> float:
    """The two-sided tail probability of a standard normal statistic."""
    return math.erfc(abs(z) / math.sqrt(2.0))


def relative_lift(control: Moments, treatment: Moments, alpha: float) -> tuple[float, Interval]:
    """``treatment / control - 1`` with its delta-method interval (needs a non-zero control)."""
    ratio = treatment.mean / control.mean
    variance = (
        treatment.sampling_variance / control.mean**2
        + treatment.mean**2 * control.sampling_variance / control.mean**4
    )
    half = normal_quantile(1 - alpha / 2) * math.sqrt(variance)
    return ratio - 1, (ratio - 1 - half, ratio - 1 + half)


def _relative(
    control: Moments, treatment: Moments, alpha: float
) -> tuple[float | None, Interval | None]:
    """The relative lift, or (None, None) when the control's mean is zero."""
    if control.mean == 0:
        return None, None
    return relative_lift(control, treatment, alpha)


def two_proportion_test(
    control: VariantStats, treatment: VariantStats, alpha: float = 0.05
) -> LiftEstimate | None:
    """Compare conversion rates: pooled z-test p-value, Wald and delta-method intervals."""
    if control.n == 0 or treatment.n == 0:
        return None
    c, t = control.moments(binomial=True), treatment.moments(binomial=True)
    diff = t.mean - c.mean
    pooled = (control.total + treatment.total) / (control.n + treatment.n)
    se_null = math.sqrt(pooled * (1 - pooled) * (1 / control.n + 1 / treatment.n))
    p_value = normal_two_sided(diff / se_null) if se_null > 0 else 1.0
    half = normal_quantile(1 - alpha / 2) * math.sqrt(c.sampling_variance + t.sampling_variance)
    rel, rel_ci = _relative(c, t, alpha)
    return LiftEstimate(diff, (diff - half, diff + half), rel, rel_ci, p_value)


def welch_test(control: Moments, treatment: Moments, alpha: float = 0.05) -> LiftEstimate | None:
    """Compare means: Welch's t-test p-value and interval, delta-method relative interval."""
    if control.n < 2 or treatment.n < 2:
        return None
    diff = treatment.mean - control.mean
    vc, vt = control.sampling_variance, treatment.sampling_variance
    se = math.sqrt(vc + vt)
    if se == 0:
        return LiftEstimate(diff, (diff, diff), *_relative(control, treatment, alpha), 1.0)
    df = (vc + vt) ** 2 / (vc**2 / (control.n - 1) + vt**2 / (treatment.n - 1))
    p_value = float(2 * sps.t.sf(abs(diff) / se, df))
    half = float(sps.t.ppf(1 - alpha / 2, df)) * se
    rel, rel_ci = _relative(control, treatment, alpha)
    return LiftEstimate(diff, (diff - half, diff + half), rel, rel_ci, p_value)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def srm_p_value(units: Sequence[int], split: Sequence[float] | None = None) -> float | None:
    """Chi-square p-value of the units per variant against the planned split (default equal)."""
    total = sum(units)
    if total == 0 or len(units) < 2:
        return None
    weights = list(split) if split is not None else [1.0] * len(units)
    expected = [total * w / sum(weights) for w in weights]
    statistic = sum((o - e) ** 2 / e for o, e in zip(units, expected, strict=True))
    return float(sps.chi2.sf(statistic, len(units) - 1))

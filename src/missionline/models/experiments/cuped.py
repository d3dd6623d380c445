"""CUPED: variance reduction with a pre-assignment covariate (Deng, Xu, Kohavi and Walker 2013).

Each unit's outcome ``y`` is replaced by ``y - theta (x - mean(x))``, where ``x`` is measured
before the assignment and ``theta = cov(y, x) / var(x)`` is pooled over every unit of every
variant (one theta for all, so the adjustment cannot favour a variant). Randomisation makes the
expected ``x`` equal across variants, so the adjusted means estimate the same lift with the
variance reduced by the share ``rho^2`` (the squared correlation of y and x). Everything is
computed from per-variant sums: n, sum and sum of squares of y and x, and the sum of x times y.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from missionline.models.experiments.stats import Moments, VariantStats


@dataclass(frozen=True)
class CupedAdjustment:
    """The pooled theta, the variance reduction it brings, and each variant's adjusted moments."""

    theta: float
    variance_reduction: float
    moments: tuple[Moments, ...]


def _centred(total_xy: float, total_x: float, total_y: float, n: int) -> float:
    """The sum of (x - mean x)(y - mean y) from raw sums."""
    return total_xy - total_x * total_y / n


def cuped(variants: Sequence[VariantStats]) -> CupedAdjustment:
    """Adjust every variant's mean and variance with the pooled theta (needs covariate sums)."""
    sums = [v.covariate for v in variants if v.covariate is not None]
    if len(sums) < len(variants):
        raise ValueError("CUPED needs the covariate sums of every variant")
    n = sum(v.n for v in variants)
    sx = sum(s.total for s in sums)
    sxx = sum(s.total_squares for s in sums)
    sxy = sum(s.cross for s in sums)
    sy = sum(v.total for v in variants)
    syy = sum(v.total_squares for v in variants)
    var_x = _centred(sxx, sx, sx, n) if n else 0.0
    var_y = _centred(syy, sy, sy, n) if n else 0.0
    cov = _centred(sxy, sx, sy, n) if n else 0.0
    theta = cov / var_x if var_x > 0 else 0.0
    reduction = cov**2 / (var_x * var_y) if var_x > 0 and var_y > 0 else 0.0
    mean_x = sx / n if n else 0.0
    adjusted = []
    for v, s in zip(variants, sums, strict=True):
        if v.n < 2:
            adjusted.append(Moments(v.n, v.mean, v.sample_variance))
            continue
        vx = _centred(s.total_squares, s.total, s.total, v.n) / (v.n - 1)
        cxy = _centred(s.cross, s.total, v.total, v.n) / (v.n - 1)
        variance = max(v.sample_variance + theta**2 * vx - 2 * theta * cxy, 0.0)
        adjusted.append(Moments(v.n, v.mean - theta * (s.total / v.n - mean_x), variance))
    return CupedAdjustment(theta, reduction, tuple(adjusted))

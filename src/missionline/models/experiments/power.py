"""Sample size per variant and expected duration (fixed-horizon, two-sided tests).

Conversions use Cohen's effect size for proportions, ``h = 2 asin(sqrt(p2)) - 2 asin(sqrt(p1))``
(the arcsine transform makes the variance ``1 / n`` whatever the rate), as
``statsmodels.stats.power.NormalIndPower`` with ``proportion_effectsize``. Values use the
standardised difference ``d = mde / sd``. The sample size is the smallest whole number of units
per variant whose power, counting both tails, reaches the target::

    power(n) = Phi(|e| sqrt(n / 2) - z) + Phi(-|e| sqrt(n / 2) - z),  z = z(1 - alpha' / 2)

so it equals statsmodels' ``solve_power`` rounded up. With more than two variants each
treatment is compared with the control at ``alpha' = alpha / (variants - 1)`` (Bonferroni, as
the analysis does).
"""

from __future__ import annotations

import math

from missionline.errors import MissionlineError
from missionline.models.experiments.stats import STANDARD_NORMAL, normal_quantile


def _power(effect: float, n: int, z_alpha: float) -> float:
    """Two-sided power of a z-test of a standardised effect with ``n`` units per variant."""
    shift = abs(effect) * math.sqrt(n / 2)
    return STANDARD_NORMAL.cdf(shift - z_alpha) + STANDARD_NORMAL.cdf(-shift - z_alpha)


def sample_size_for_effect(
    effect: float, power: float = 0.8, alpha: float = 0.05, variants: int = 2
) -> int:
    """Units per variant to detect a standardised effect (Cohen's h or d) with this power."""
    if effect == 0 or not math.isfinite(effect):
        raise MissionlineError("the minimum detectable effect must be a finite non-zero number")
    if not (0 < power < 1 and 0 < alpha < 1) or variants < 2:
        raise MissionlineError(
            "power and alpha must lie between 0 and 1, and there must be at least two variants"
        )
    z_alpha = normal_quantile(1 - alpha / (variants - 1) / 2)
    n = max(2, math.ceil(2 * ((z_alpha + normal_quantile(power)) / effect) ** 2))
    # The closed form ignores the far tail, which adds a little power: step down while it holds.
    while n > 2 and _power(effect, n - 1, z_alpha) >= power:
        n -= 1
    return n


def cohens_h(p1: float, p2: float) -> float:
    """Cohen's effect size between two proportions."""
    return 2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1))


def sample_size(
    baseline: float,
    mde: float,
    relative: bool = False,
    power: float = 0.8,
    alpha: float = 0.05,
    variants: int = 2,
) -> int:
    """Units per variant to detect a conversion lift of ``mde`` (absolute or relative)."""
    if not 0 < baseline < 1:
        raise MissionlineError(f"the baseline rate must lie between 0 and 1, not {baseline}")
    target = baseline * (1 + mde) if relative else baseline + mde
    if not 0 < target < 1:
        raise MissionlineError(
            f"baseline {baseline} with an effect of {mde}{' (relative)' if relative else ''} "
            f"gives a rate of {target:.4g}, outside 0 to 1"
        )
    return sample_size_for_effect(cohens_h(baseline, target), power, alpha, variants)


def duration_days(units_per_variant: int, variants: int, units_per_day: float) -> int | None:
    """Days to assign ``units_per_variant`` to each variant at this traffic (None without any)."""
    if not units_per_day > 0:
        return None
    return math.ceil(units_per_variant * variants / units_per_day)

"""The result of an experiment's analysis and its JSON contract."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from missionline.models.experiments.sequential import SequentialEstimate
from missionline.models.experiments.stats import Interval

MetricKind = Literal["conversion", "value"]
Verdict = Literal["ship", "do not ship", "inconclusive", "keep running", "stop: SRM"]


@dataclass(frozen=True)
class VariantResult:
    """One variant: its numbers and, for a treatment, its comparison with the control."""

    variant: str
    units: int
    conversions: int | None
    rate: float | None
    lift_abs: float | None = None
    lift_abs_ci: Interval | None = None
    lift_rel: float | None = None
    lift_rel_ci: Interval | None = None
    p_value: float | None = None
    chance_to_win: float | None = None
    expected_loss: float | None = None
    sequential: SequentialEstimate | None = None
    assigned: int | None = None


@dataclass(frozen=True)
class CupedSummary:
    """The CUPED adjustment applied: the covariate, the pooled theta, the variance removed."""

    covariate: str
    theta: float
    variance_reduction: float


@dataclass(frozen=True)
class ExperimentResult:
    """Every variant against the control, the sample-ratio check and the verdict."""

    experiment: str
    metric: MetricKind
    control: str
    direction: str
    alpha: float
    variants: tuple[VariantResult, ...]
    srm_p_value: float | None
    verdict: Verdict
    winner: str | None
    sequential: bool
    cuped: CupedSummary | None
    planned_units_per_variant: int | None
    pending_units: int
    as_of: str | None = None

    def variant(self, name: str) -> VariantResult:
        """Return one variant's result."""
        return next(v for v in self.variants if v.variant == name)

    def method(self) -> dict[str, str]:
        """Name the method behind each number (the ``method`` key of the JSON)."""
        comparisons = len(self.variants) - 1
        plain = self.metric == "conversion" and self.cuped is None
        return {
            "p_value": ("two-proportion z-test, pooled variance" if plain else "Welch t-test")
            + (", Holm-adjusted" if comparisons > 1 else ""),
            "lift_abs_ci": ("Wald, unpooled variances" if plain else "Welch t interval")
            + (f", Bonferroni level alpha/{comparisons}" if comparisons > 1 else ""),
            "lift_rel_ci": "delta method, normal quantile",
            "chance_to_win": "beta(1,1) posteriors, numerical integration"
            if plain
            else "normal approximation, flat prior",
            "sequential": "mSPRT with normal mixing, tau tuned to the planned sample",
            "srm": "chi-square goodness of fit against the planned split",
        }

    def to_json(self) -> dict[str, Any]:
        """The JSON contract (see docs/experiments.md)."""
        rows = []
        for v in self.variants:
            seq = v.sequential
            rows.append(
                {
                    "variant": v.variant,
                    "units": v.units,
                    "conversions": v.conversions,
                    "rate": _num(v.rate),
                    "lift_abs": _num(v.lift_abs),
                    "lift_abs_ci": _pair(v.lift_abs_ci),
                    "lift_rel": _num(v.lift_rel),
                    "lift_rel_ci": _pair(v.lift_rel_ci),
                    "p_value": _num(v.p_value),
                    "chance_to_win": _num(v.chance_to_win),
                    "expected_loss": _num(v.expected_loss),
                    "sequential_p_value": _num(seq.p_value) if seq else None,
                    "sequential_ci": _pair(seq.ci) if seq else None,
                    "sequential_tau": _num(math.sqrt(seq.tau2)) if seq else None,
                    "assigned": v.assigned,
                }
            )
        cuped = self.cuped
        return {
            "experiment": self.experiment,
            "variants": rows,
            "srm_p_value": _num(self.srm_p_value),
            "verdict": self.verdict,
            "winner": self.winner,
            "metric": self.metric,
            "control": self.control,
            "direction": self.direction,
            "alpha": self.alpha,
            "sequential": self.sequential,
            "cuped": None
            if cuped is None
            else {
                "covariate": cuped.covariate,
                "theta": cuped.theta,
                "variance_reduction": cuped.variance_reduction,
            },
            "planned_units_per_variant": self.planned_units_per_variant,
            "pending_units": self.pending_units,
            "as_of": self.as_of,
            "method": self.method(),
        }


def _num(value: float | None) -> float | None:
    """A JSON number: None for missing or non-finite values."""
    return None if value is None or not math.isfinite(value) else float(value)


def _pair(interval: Interval | None) -> list[float | None] | None:
    """An interval as a two-item JSON list."""
    return None if interval is None else [_num(interval[0]), _num(interval[1])]

"""Analyse an experiment: every treatment against the control, and a verdict.

The engine returns per-variant sums (:mod:`.outcomes`); the statistics run here on those few
numbers (:mod:`.stats`, :mod:`.bayes`, :mod:`.sequential`, :mod:`.cuped`, :mod:`.power`).

Verdict, in this order (docs/experiments.md):

1. ``stop: SRM`` when the sample-ratio p-value is below 0.001: the assignment is broken and no
   lift can be trusted.
2. ``keep running`` for a fixed-horizon experiment (``sequential: false``) that has neither
   passed its end date nor reached its planned sample per variant: deciding earlier is peeking.
3. ``ship`` when a treatment's interval (the Bonferroni-level fixed interval, or the
   always-valid interval for a sequential experiment) lies wholly on the hoped side of zero; the
   winner is the one with the largest lift among those.
4. ``do not ship`` when every treatment's interval lies wholly on the wrong side.
5. Otherwise ``inconclusive`` once finished, ``keep running`` before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ibis.expr.types as ir
import pandas as pd

from missionline.data.schema import Table
from missionline.errors import MissionlineError
from missionline.metrics.pipeline import AsOf, resolve_as_of
from missionline.models.experiments import bayes, sequential, stats
from missionline.models.experiments.counts import stats_from_counts
from missionline.models.experiments.cuped import cuped
from missionline.models.experiments.outcomes import find_experiment, variant_sums
from missionline.models.experiments.power import sample_size, sample_size_for_effect
from missionline.models.experiments.result import (
    CupedSummary,
    ExperimentResult,
    MetricKind,
    VariantResult,
    Verdict,
)
from missionline.plan.models import Plan

SRM_THRESHOLD = 0.001


@dataclass(frozen=True)
class Design:
    """How to analyse and decide: the control, the metric kind and the decision settings."""

    control: str
    metric: MetricKind
    alpha: float = 0.05
    direction: bayes.Direction = "increase"
    split: tuple[float, ...] | None = None
    sequential: bool = False
    mde: float | None = None
    relative_mde: bool = False
    power: float = 0.8
    finished: bool = True  # the planned end has passed (or, for counts, nothing says otherwise)
    covariate: str | None = None


def planned_units(control: stats.VariantStats, design: Design, variants: int) -> int | None:
    """Units per variant the design needs to detect its minimum effect (None if unknown)."""
    if design.mde is None or control.n < 2:
        return None
    try:
        if design.metric == "conversion":
            return sample_size(
                control.mean, design.mde, design.relative_mde, design.power, design.alpha, variants
            )
        effect = design.mde * (abs(control.mean) if design.relative_mde else 1.0)
        sd = math.sqrt(control.sample_variance)
        return sample_size_for_effect(effect / sd, design.power, design.alpha, variants)
    except (MissionlineError, ZeroDivisionError):
        return None  # a control at 0% or 100%, or without variance: no meaningful plan


def _decide(
    rows: Sequence[VariantResult], design: Design, srm: float | None, finished: bool
) -> tuple[Verdict, str | None]:
    """Apply the documented verdict rule to the treatments' intervals."""
    if srm is not None and srm < SRM_THRESHOLD:
        return "stop: SRM", None
    if not design.sequential and not finished:
        return "keep running", None
    sign = 1.0 if design.direction == "increase" else -1.0
    wins, harms = [], 0
    for row in rows:
        ci = row.lift_abs_ci
        if design.sequential:
            ci = row.sequential.ci if row.sequential else None
        if ci is None:
            continue
        low, high = sorted((sign * ci[0], sign * ci[1]))
        if low > 0:
            wins.append(row)
        elif high < 0:
            harms += 1
    if wins:
        best = max(wins, key=lambda r: sign * (r.lift_abs or 0.0))
        return "ship", best.variant
    if rows and harms == len(rows):
        return "do not ship", None
    return ("inconclusive" if finished else "keep running"), None


def _compare(
    control: stats.VariantStats,
    treatment: stats.VariantStats,
    moments: tuple[stats.Moments, stats.Moments],
    design: Design,
    plain: bool,
    level: float,
    n_plan: int | None,
) -> VariantResult:
    """One treatment against the control: frequentist, Bayesian and sequential numbers.

    ``plain``: a conversion without CUPED (binomial tests); otherwise means and variances.
    ``level``: the significance level of each comparison (alpha / comparisons, Bonferroni).
    """
    mc, mt = moments
    if plain:
        freq = stats.two_proportion_test(control, treatment, level)
    else:
        freq = stats.welch_test(mc, mt, level)
    if plain and control.n and treatment.n:
        bay: bayes.BayesEstimate | None = bayes.beta_binomial(control, treatment, design.direction)
    else:
        bay = bayes.normal_approximation(mc, mt, design.direction)
    seq = None
    if mc.n >= 2 and mt.n >= 2:
        horizon = n_plan or min(mc.n, mt.n)
        tau2 = sequential.mixing_variance(level, (mc.variance + mt.variance) / horizon)
        seq = sequential.msprt(mc, mt, level, tau2)
    return VariantResult(
        treatment.variant,
        treatment.n,
        treatment.conversions,
        treatment.mean if treatment.n else None,
        freq.lift_abs if freq else None,
        freq.lift_abs_ci if freq else None,
        freq.lift_rel if freq else None,
        freq.lift_rel_ci if freq else None,
        freq.p_value if freq else None,
        bay.chance_to_win if bay else None,
        bay.expected_loss if bay else None,
        seq,
    )


def _holm(rows: list[VariantResult]) -> list[VariantResult]:
    """Replace the treatments' p-values by Holm-adjusted ones (when there are several)."""
    raw = [r.p_value for r in rows]
    if len(rows) < 2 or any(p is None for p in raw):
        return rows
    adjusted = stats.holm([p for p in raw if p is not None])
    return [replace(r, p_value=p) for r, p in zip(rows, adjusted, strict=True)]


def analyze(
    experiment_id: str,
    variants: Sequence[stats.VariantStats],
    design: Design,
    assigned: Sequence[int] | None = None,
    as_of: str | None = None,
) -> ExperimentResult:
    """Analyse per-variant sums: every treatment against the control, and the verdict.

    ``assigned``: units assigned per variant, pending ones included (default: the analysed
    units); the sample-ratio check uses them.
    """
    names = [v.variant for v in variants]
    if design.control not in names:
        raise MissionlineError(
            f"control {design.control!r} is not among the variants {', '.join(names) or '(none)'}"
        )
    if len(variants) < 2:
        raise MissionlineError("an experiment needs a control and at least one other variant")
    counts = list(assigned) if assigned is not None else [v.n for v in variants]
    control = variants[names.index(design.control)]
    adjustment = None
    if design.covariate is not None and all(v.covariate is not None for v in variants):
        adjustment = cuped(variants)
    plain = design.metric == "conversion" and adjustment is None
    moments = adjustment.moments if adjustment else tuple(v.moments(plain) for v in variants)
    m_control = moments[names.index(design.control)]
    planned = planned_units(control, design, len(variants))
    level = design.alpha / (len(variants) - 1)
    rows = _holm(
        [
            _compare(control, v, (m_control, m), design, plain, level, planned)
            for v, m in zip(variants, moments, strict=True)
            if v.variant != design.control
        ]
    )
    srm = stats.srm_p_value(counts, design.split)
    finished = design.finished or (planned is not None and min(v.n for v in variants) >= planned)
    verdict, winner = _decide(rows, design, srm, finished)
    by_name = {r.variant: r for r in rows}
    control_row = VariantResult(
        control.variant, control.n, control.conversions, control.mean if control.n else None
    )
    return ExperimentResult(
        experiment=experiment_id,
        metric=design.metric,
        control=design.control,
        direction=design.direction,
        alpha=design.alpha,
        variants=tuple(
            replace(by_name.get(v.variant, control_row), assigned=count)
            for v, count in zip(variants, counts, strict=True)
        ),
        srm_p_value=srm,
        verdict=verdict,
        winner=winner,
        sequential=design.sequential,
        cuped=None
        if adjustment is None or design.covariate is None
        else CupedSummary(design.covariate, adjustment.theta, adjustment.variance_reduction),
        planned_units_per_variant=planned,
        pending_units=sum(counts) - sum(v.n for v in variants),
        as_of=as_of,
    )


def _variant_stats(name: str, row: dict[Any, Any], covariate: bool) -> stats.VariantStats:
    """One variant's statistics from its row of :func:`variant_sums` (empty: no units)."""
    n = int(row.get("units", 0))

    def value(column: str) -> float:
        cell = row.get(column)
        return float(cell) if n and cell is not None and pd.notna(cell) else 0.0

    sums = None
    if covariate:
        sums = stats.CovariateSums(value("x_total"), value("x_total_squares"), value("xy_total"))
    count = int(value("nonzero"))
    return stats.VariantStats(name, n, value("total"), value("total_squares"), count, sums)


def analyze_experiment(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    experiment_id: str,
    as_of: AsOf = None,
    alpha: float | None = None,
) -> ExperimentResult:
    """Analyse a declared experiment on the workspace's data, as of a moment (default: the end).

    ``alpha`` overrides the plan's significance level.
    """
    experiment = find_experiment(plan, experiment_id)
    moment = resolve_as_of(tables, as_of)
    sums = variant_sums(tables, schema, plan, experiment, moment)
    found = {str(r["variant"]): r for r in sums.to_dict("records")}
    unknown = sorted(set(found) - set(experiment.variants))
    if unknown:
        raise MissionlineError(
            f"experiment {experiment_id!r}: assignments name variants {', '.join(unknown)} "
            f"that the plan does not declare ({', '.join(experiment.variants)})"
        )
    rows = [found.get(name, {}) for name in experiment.variants]
    covariate = experiment.covariate
    label = None
    if covariate is not None:
        label = covariate.column or f"pre-period {experiment.metric.kind} ({covariate.pre_period})"
    design = Design(
        control=experiment.control,
        metric=experiment.metric.kind,
        alpha=alpha if alpha is not None else experiment.alpha,
        direction=experiment.direction,
        split=tuple(experiment.split) if experiment.split else None,
        sequential=experiment.sequential,
        mde=experiment.minimum_detectable_effect,
        relative_mde=experiment.relative_mde,
        power=experiment.power,
        finished=moment >= pd.Timestamp(experiment.end) + pd.Timedelta(days=1),
        covariate=label,
    )
    return analyze(
        experiment_id,
        [
            _variant_stats(name, row, covariate is not None)
            for name, row in zip(experiment.variants, rows, strict=True)
        ],
        design,
        [int(row.get("assigned", 0)) for row in rows],
        moment.isoformat(),
    )


def analyze_counts(
    frame: pd.DataFrame,
    control: str,
    metric_kind: MetricKind,
    alpha: float = 0.05,
    direction: bayes.Direction = "increase",
    source: str | None = None,
) -> ExperimentResult:
    """Analyse counts kept elsewhere: one row per variant (see :mod:`.counts` for the columns).

    ``source`` (the file the counts came from) locates problems by CSV line and names the
    result; without it the result is called ``counts``.
    """
    variants, split = stats_from_counts(frame, metric_kind, source)
    design = Design(control, metric_kind, alpha, direction, split)
    return analyze(Path(source).stem if source else "counts", variants, design)

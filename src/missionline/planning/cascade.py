"""The reverse waterfall: from each success factor's target to the entries needed per stage.

Per cascadable success factor (see :mod:`.ladder`) and, with ``by=["segment"]``, per segment:

1. the target per day of the horizon (:func:`.ladder.daily_target`); a company-wide target is
   split across segments by their share of the factor's measure in the lookback window;
2. won deals needed per day = target ÷ average deal size (``won_amount``), or the target itself
   (``won_count``);
3. up the ladder, the entries needed at stage k on day t are
   ``R_k[t] = Σ_d R_{k+1}[t + d] · lag_k[d] ÷ conversion_k``: the next stage's needs, spread
   back over earlier days by the whole lag distribution (a discrete convolution), divided by
   the conversion. Values are carried unrounded through the ladder; displays round up.
4. Needs are summed per period (``week``, ``month``, ``quarter``, ``year``); periods before the
   horizon hold the demand that early stages must meet before the plan starts.

Each ladder stage's entries are a target of the function that owns the stage. The first
stage's owner also gets the budget (entries * measured cost per entry); the won stage's owner
the win rate (the last step's conversion) and the bookings (won * deal size).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from missionline.data.importer import Progress
from missionline.data.schema import Table
from missionline.errors import MissionlineError
from missionline.metrics.periods import parse_duration_days
from missionline.metrics.pipeline import AsOf, resolve_as_of
from missionline.plan.models import Plan
from missionline.planning.assumptions import (
    Assumptions,
    Ladder,
    Step,
    measure_assumptions,
    with_plan,
)
from missionline.planning.ladder import (
    DEFAULT_LOOKBACK,
    Factor,
    daily_target,
    factors,
    grid,
    horizon,
    ladder,
    period_label,
)
from missionline.planning.tables import (
    assumption_rows,
    budget_rows,
    function_rows,
    required_rows,
)

Scopes = dict[tuple[str | None, str | None], Assumptions]


@dataclass(frozen=True)
class Run:
    """One ladder worked through: a success factor, in one segment (None: all), per day."""

    factor: Factor
    segment: str | None
    share: float
    ladder: Ladder
    scope: Assumptions
    target: np.ndarray
    required: dict[str, np.ndarray]


@dataclass(frozen=True)
class CascadeResult:
    """The cascade's tables, the daily runs behind them, and the assumptions used."""

    required: pd.DataFrame
    functions: pd.DataFrame
    budget: pd.DataFrame
    assumptions: pd.DataFrame
    not_cascadable: list[dict[str, str]]
    runs: list[Run]
    days: pd.DatetimeIndex
    scopes: Scopes
    by_segment: bool
    period: str


def requirements(won: np.ndarray, steps: Sequence[Step]) -> list[np.ndarray]:
    """Entries needed per day at each ladder stage, top first, for ``won`` deals per day."""
    needs = [np.asarray(won, dtype=float)]
    for step in reversed(steps):
        below = needs[0]
        if step.conversion is None or step.conversion <= 0:
            needs.insert(0, np.full(len(below), np.nan))
            continue
        lag = step.lag[::-1]
        spread = np.convolve(below, lag)[len(lag) - 1 : len(lag) - 1 + len(below)]
        needs.insert(0, spread / step.conversion)
    return needs


def lead_days(ladders: Sequence[Ladder]) -> int:
    """Days the longest chain of lags reaches back before a won deal."""
    return max((sum(len(s.lag) - 1 for s in lad.steps) for lad in ladders), default=0)


def resolve_lookback(plan: Plan, lookback: str | None) -> tuple[str, float]:
    """The lookback text and days: the argument, else the plan's, else 365d."""
    given = plan.cascade.assumptions.lookback if plan.cascade else None
    text = (lookback or given or DEFAULT_LOOKBACK).strip()
    return text, parse_duration_days(text)


def measure_scopes(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    as_of: AsOf = None,
    lookback: str | None = None,
    progress: Progress | None = None,
) -> Scopes:
    """Measured assumptions with the plan's overrides, one per kind and market in use."""
    stages = ladder(plan)
    found, _ = factors(plan)
    text, days = resolve_lookback(plan, lookback)
    stamp = resolve_as_of(tables, as_of)
    given = plan.cascade.assumptions if plan.cascade else None
    keys = list(dict.fromkeys((f.scope.kind, f.scope.market) for f in found))
    report = progress or (lambda label, done: None)
    scopes: Scopes = {}
    for i, key in enumerate(keys):
        report("measuring conversions and lags", i / len(keys))
        measured = measure_assumptions(tables, plan, stages, *key, stamp, text, days)
        scopes[key] = with_plan(measured, given)
    report("measuring conversions and lags", 1.0)
    return scopes


def _groups(factor: Factor, scope: Assumptions, by_segment: bool) -> list[tuple[str | None, float]]:
    """The segments a factor's target goes to, with their shares of it."""
    if factor.scope.segment is not None:
        return [(factor.scope.segment, 1.0)]
    mix = scope.mix.get(factor.measure, {})
    if not by_segment or not mix:
        return [(None, 1.0)]
    return sorted(mix.items())


def _runs(
    plan: Plan,
    found: Sequence[Factor],
    scopes: Scopes,
    by_segment: bool,
    targets: dict[str, float] | None,
) -> tuple[list[Run], pd.DatetimeIndex]:
    """Every factor (and segment) worked down its ladder, on one daily axis."""
    if not found:
        return [], pd.DatetimeIndex([])
    span = horizon(plan)
    groups = []
    for factor in found:
        scope = scopes[(factor.scope.kind, factor.scope.market)]
        for segment, share in _groups(factor, scope, by_segment):
            groups.append((factor, segment, share, scope))
    days = grid(span, lead_days([scope.ladder(segment) for _, segment, _, scope in groups]))
    runs = []
    for factor, segment, share, scope in groups:
        lad = scope.ladder(segment)
        goal = factor.factor
        if targets and factor.id in targets:
            goal = goal.model_copy(update={"target": targets[factor.id]})
        target = daily_target(goal, span, days) * share
        size = lad.deal_size if factor.measure == "won_amount" else 1.0
        won = target / size if size else np.full(len(days), np.nan)
        stages = [s.stage for s in lad.steps] + [lad.steps[-1].next_stage]
        required = dict(zip(stages, requirements(won, lad.steps), strict=True))
        runs.append(Run(factor, segment, share, lad, scope, target, required))
    return runs, days


def run_cascade(
    plan: Plan,
    scopes: Scopes,
    by_segment: bool = False,
    period: str = "month",
    targets: dict[str, float] | None = None,
) -> CascadeResult:
    """Work every cascadable factor down its ladder with the given assumptions.

    ``targets`` replaces success factors' targets (by id), as scenarios do.
    """
    found, skipped = factors(plan)
    runs, days = _runs(plan, found, scopes, by_segment, targets)
    return CascadeResult(
        required_rows(runs, days, plan, period, by_segment),
        function_rows(runs, days, plan, period, by_segment),
        budget_rows(runs, days, plan, period, by_segment),
        assumption_rows(runs, by_segment),
        skipped,
        runs,
        days,
        scopes,
        by_segment,
        period,
    )


def check_by(by: Sequence[str]) -> bool:
    """True for ``--by segment``; the cascade splits by nothing else."""
    extra = [b for b in by if b != "segment"]
    if extra:
        raise MissionlineError(
            f"the cascade cannot be split by {', '.join(extra)}; use --by segment (or nothing)"
        )
    return bool(by)


def cascade(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    by: Sequence[str] = (),
    period: str = "month",
    lookback: str | None = None,
    as_of: AsOf = None,
    progress: Progress | None = None,
) -> CascadeResult:
    """Return the entries each stage needs per period to meet every success factor's target."""
    by_segment = check_by(by)
    period_label(pd.DatetimeIndex([]), period)  # refuse an unknown period before measuring
    scopes = measure_scopes(tables, schema, plan, as_of, lookback, progress)
    return run_cascade(plan, scopes, by_segment, period)


def combined(result: CascadeResult, stage: str) -> np.ndarray:
    """Entries needed per day at ``stage`` to meet every factor at once.

    Factors overlap (a segment's bookings are part of the company's), so per segment the
    largest need counts; the company's need is the larger of its own and the segments' sum.
    """
    company = np.zeros(len(result.days))
    segments: dict[str, np.ndarray] = {}
    for run in result.runs:
        need = np.nan_to_num(run.required[stage])
        if run.segment is None:
            company = np.maximum(company, need)
        else:
            segments[run.segment] = np.maximum(segments.get(run.segment, 0.0), need)
    return np.maximum(company, sum(segments.values(), np.zeros(len(result.days))))


def whole(value: float) -> int | None:
    """A need shown as a whole number: rounded up (a fraction of a deal is still a deal)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return math.ceil(round(value, 6))

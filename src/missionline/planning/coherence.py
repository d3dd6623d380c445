"""Target coherence: do the objectives' own targets add up to what the cascade needs?

Each objective is compared with the cascade (by segment) of every cascadable success factor
it supports, period by period within the horizon (the objective's period: month, quarter,
year, or the whole horizon):

* an ``entries`` objective at a ladder stage (MQLs, SQLs, opportunities) below the entries the
  cascade needs at that stage is ``too_low``;
* a ``won_amount`` / ``won_count`` objective below the bookings / won deals the cascade needs
  is ``too_low``;
* a ``spend`` objective of the function that owns the first ladder stage (a budget) below the
  budget the cascade needs is ``too_low``;
* a ``win_rate`` or ``conversion`` objective above the best value that any whole period of the
  same length reached in the history (periods with at least :data:`MIN_DECIDED` closed deals or
  stage entries) is ``never_achieved``.

The worst period is reported, when it is short by at least one (record or unit of money). An
objective's segment filter compares it with that segment's share of the cascade; objectives
with a channel filter are not compared (the cascade does not split by channel).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from missionline.alignment.mission_map import format_value
from missionline.data.importer import Progress
from missionline.data.schema import Table
from missionline.metrics.library import MEASURES, metric_value
from missionline.metrics.pipeline import AsOf, pipeline, resolve_as_of
from missionline.plan.models import MetricDefinition, Objective, Plan
from missionline.planning.cascade import CascadeResult, Run, cascade
from missionline.planning.ladder import MONTHS_PER_PERIOD, horizon, scoped

MIN_DECIDED = 20
PERIOD_NAMES = {1: "month", 3: "quarter", 12: "year"}


@dataclass(frozen=True)
class Finding:
    """An objective whose target does not fit the cascade or the history, and by how much.

    ``needed`` is what the cascade needs in ``period`` (``too_low``), or the best value ever
    reached, in the period starting ``period`` (``never_achieved``); ``gap`` is the distance
    from the target, and ``gap_share`` the gap over the larger of the two (so it is in (0, 1]).
    """

    kind: Literal["too_low", "never_achieved"]
    objective: str
    function: str
    success_factor: str | None
    metric: str
    period: dt.date | None
    target: float
    needed: float
    gap: float
    gap_share: float
    message: str


def _daily(plan: Plan, metric: MetricDefinition, runs: Sequence[Run]) -> np.ndarray | None:
    """What the runs need per day in the objective's measure (None: not comparable)."""
    parts = []
    for run in runs:
        won = run.ladder.steps[-1].next_stage
        first = run.ladder.steps[0].stage
        if metric.measure == "entries" and metric.stage in run.required:
            parts.append(run.required[metric.stage])
        elif metric.measure == "won_count":
            parts.append(run.required[won])
        elif metric.measure == "won_amount" and run.ladder.deal_size is not None:
            parts.append(run.required[won] * run.ladder.deal_size)
        elif metric.measure == "spend" and metric.function == plan.lifecycle.stage(first).owner:
            cost = run.scope.cost_per_entry.get(first)
            parts.append(run.required[first] * (cost if cost is not None else np.nan))
        else:
            return None
    return np.sum(parts, axis=0) if parts else None


def _labels(days: pd.DatetimeIndex, period: str, start: dt.date) -> list[dt.date]:
    """Each day's period start (the horizon's start for a ``horizon`` period)."""
    if period == "horizon":
        return [start] * len(days)
    months = MONTHS_PER_PERIOD[period]
    index = (days.year * 12 + days.month - 1) // months * months
    return [dt.date(i // 12, i % 12 + 1, 1) for i in index]


def _too_low(
    plan: Plan, objective: Objective, factor: str, result: CascadeResult
) -> Finding | None:
    """The objective against one supported factor's needs, at its worst period."""
    metric = plan.metrics[objective.metric]
    runs = [
        r
        for r in result.runs
        if r.factor.id == factor and metric.segment in (None, r.segment, r.factor.scope.segment)
    ]
    daily = _daily(plan, metric, runs) if runs else None
    if daily is None:
        return None
    span = horizon(plan)
    inside = (result.days >= pd.Timestamp(span.start)) & (result.days <= pd.Timestamp(span.end))
    days = result.days[inside]
    needs = pd.Series(daily[inside]).groupby(_labels(days, objective.period, span.start)).sum()
    gaps = needs - objective.target
    if needs.empty or not gaps.max() >= 1:
        return None
    at = int(np.argmax(gaps.to_numpy()))
    worst, need = needs.index[at], float(needs.iloc[at])
    what = f"entries into {metric.stage}" if metric.measure == "entries" else metric.measure
    unit = objective.unit
    return Finding(
        "too_low",
        objective.id,
        objective.function,
        factor,
        objective.metric,
        worst,
        objective.target,
        need,
        need - objective.target,
        (need - objective.target) / need,
        f"{objective.id} targets {_show(objective.target, unit)} {what} per "
        f"{objective.period}; {factor} needs {_show(need, unit)} in the {objective.period} "
        f"from {worst} (short by {_show(need - objective.target, unit)}, "
        f"{(need - objective.target) / need:.0%})",
    )


def _show(value: float, unit: str | None) -> str:
    """A count rounded up (a fraction of a record is still a record), money in short form."""
    if unit is None or unit == "count":
        return f"{math.ceil(round(value, 6)):,}"
    return format_value(value, unit)


def _whole_periods(first: pd.Timestamp, as_of: pd.Timestamp, months: int) -> Iterator[tuple]:
    """Whole calendar periods of ``months`` from the one containing ``first`` up to ``as_of``."""
    start = pd.Timestamp(first.year, (first.month - 1) // months * months + 1, 1)
    while start + pd.DateOffset(months=months) <= as_of:
        stop = start + pd.DateOffset(months=months)
        yield start.date(), stop.date()
        start = stop


def _best(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    objective: Objective,
    as_of: pd.Timestamp,
) -> tuple[float, dt.date] | None:
    """The best win rate or conversion a whole period of the objective's length reached."""
    metric = plan.metrics[objective.metric]
    months = MONTHS_PER_PERIOD.get(objective.period, 12)
    if metric.measure == "win_rate":
        frame = pipeline(
            scoped(tables, metric.kind, metric.market),
            schema,
            plan,
            by=["segment"] if metric.segment else [],
            period=PERIOD_NAMES[months],
            as_of=as_of,
        )
        if metric.segment:
            frame = frame[frame["segment"] == metric.segment]
        ends = pd.to_datetime(frame["period"]) + pd.DateOffset(months=months)
        frame = frame[(frame["won"] + frame["lost"] >= MIN_DECIDED) & (ends <= as_of)]
        frame = frame.dropna(subset=["win_rate"])
        if frame.empty:
            return None
        row = frame.iloc[int(np.argmax(frame["win_rate"].to_numpy()))]
        return float(row["win_rate"]), row["period"]
    first = tables["stage_events"].entered_at.min().execute()
    if first is None or pd.isna(first):
        return None
    count = metric.model_copy(update={"measure": "entries"})
    best: tuple[float, dt.date] | None = None
    for start, stop in _whole_periods(pd.Timestamp(first), as_of, months):
        entered = MEASURES["entries"](tables, plan, count, start, stop)
        enough = float(entered.execute() if isinstance(entered, ir.Scalar) else entered or 0)
        value = metric_value(tables, plan, objective.metric, start, stop)
        if enough >= MIN_DECIDED and value is not None and (best is None or value > best[0]):
            best = (value, start)
    return best


def _never_achieved(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    objective: Objective,
    as_of: pd.Timestamp,
) -> Finding | None:
    """A win-rate or conversion target above the best period in the history."""
    best = _best(tables, schema, plan, objective, as_of)
    if best is None or objective.target <= best[0]:
        return None
    value, period = best
    return Finding(
        "never_achieved",
        objective.id,
        objective.function,
        None,
        objective.metric,
        period,
        objective.target,
        value,
        objective.target - value,
        (objective.target - value) / objective.target,
        f"{objective.id} targets a {plan.metrics[objective.metric].measure} of "
        f"{objective.target:.1%}; the best {objective.period} so far reached {value:.1%} "
        f"(from {period})",
    )


def target_coherence(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    as_of: AsOf = None,
    lookback: str | None = None,
    result: CascadeResult | None = None,
    progress: Progress | None = None,
) -> list[Finding]:
    """Objectives whose targets are too low for the cascade, or assume what was never done."""
    stamp = resolve_as_of(tables, as_of)
    if result is None:
        result = cascade(tables, schema, plan, ["segment"], "month", lookback, stamp, progress)
    findings = []
    for objective in plan.objectives:
        metric = plan.metrics.get(objective.metric)
        if metric is None or metric.channel is not None:
            continue
        if metric.measure in ("win_rate", "conversion"):
            found = _never_achieved(tables, schema, plan, objective, stamp)
            findings += [found] if found else []
            continue
        for factor in objective.supports:
            found = _too_low(plan, objective, factor, result)
            findings += [found] if found else []
    return findings

"""A success factor's projection over its current period: actual so far, expected, interval.

The period is the factor's period (month, quarter, year, horizon) holding the last moment
before ``as_of``, clipped to the horizon. Projected value = the plan metric's actual from the
period's start to ``as_of`` + the won value expected before the period ends:

* from the **open pipeline** (:mod:`.open_pipeline`): the deals open at ``as_of`` win by each
  month end at the rate of the past periods at the same point (when the lookback holds a past
  period; otherwise they flow like the earlier stages);
* from the **earlier stages** (:mod:`.flow`): the entries before ``as_of`` flowed down the
  ladder with the measured conversions and lag distributions (the segments' own with ``by``).

The 80% interval is the 10th to 90th percentile of a seeded Monte Carlo simulation of both.
New first-stage entries after ``as_of`` are not counted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from missionline.metrics.library import metric_value
from missionline.plan.models import Plan
from missionline.planning.cascade import Run, lead_days
from missionline.planning.flow import simulate, won_arrivals
from missionline.planning.ladder import MONTHS_PER_PERIOD, cut, horizon, month_count, scoped
from missionline.planning.open_pipeline import (
    measure_open,
    open_amounts,
    pipeline_for,
    simulate_open,
)

LOW, HIGH = 0.10, 0.90
Actual = Callable[[Run, str, pd.DatetimeIndex], np.ndarray]


@dataclass(frozen=True)
class Projection:
    """A success factor's projected value over one period, with its 80% interval."""

    success_factor: str
    period_start: dt.date
    period_end: dt.date
    target: float
    actual: float
    expected: float
    low: float
    high: float
    attainment: float | None
    attainment_low: float | None
    attainment_high: float | None
    months: pd.DataFrame


def current_period(plan: Plan, period: str, stamp: pd.Timestamp) -> tuple[dt.date, dt.date]:
    """The period holding the last moment before ``stamp``, clipped to the horizon: [start, end)."""
    span = horizon(plan)
    last = min(max((stamp - pd.Timedelta(microseconds=1)).date(), span.start), span.end)
    if period == "horizon":
        return span.start, span.end + dt.timedelta(days=1)
    months = MONTHS_PER_PERIOD[period]
    index = (last.year * 12 + last.month - 1) // months * months
    start = dt.date(index // 12, index % 12 + 1, 1)
    end = (pd.Timestamp(start) + pd.DateOffset(months=months)).date()
    return max(start, span.start), min(end, span.end + dt.timedelta(days=1))


def _edges(start: dt.date, end: dt.date) -> list[pd.Timestamp]:
    """The period's start, each month end inside it, and its end."""
    edges = [pd.Timestamp(start)]
    while edges[-1] < pd.Timestamp(end):
        edges.append(min(edges[-1] + pd.offsets.MonthBegin(1), pd.Timestamp(end)))
    return edges


def _pasts(
    edges: list[pd.Timestamp], months: int | None, stamp: pd.Timestamp, since: pd.Timestamp
) -> list[tuple[pd.Timestamp, list[pd.Timestamp]]]:
    """Past periods of the same length starting at or after ``since``: snapshot, bucket ends."""
    if months is None:
        return []
    out = []
    back = edges[0] - pd.DateOffset(months=months)
    while back >= since:
        shift = back - edges[0]
        out.append((stamp + shift, [e + shift for e in edges[1:]]))
        back -= pd.DateOffset(months=months)
    return out


def project(
    tables: dict[str, ir.Table],
    plan: Plan,
    runs: Sequence[Run],
    actual_entries: Actual,
    stamp: pd.Timestamp,
    draws: int,
    rng: np.random.Generator,
) -> Projection:
    """Project one factor (its runs: one per segment) over its current period."""
    factor = runs[0].factor
    start, end = current_period(plan, factor.factor.period, stamp)
    edges = _edges(start, end)
    scope = runs[0].scope
    months = None if factor.factor.period == "horizon" else MONTHS_PER_PERIOD[factor.factor.period]
    pasts = _pasts(edges, months, stamp, scope.start)
    deals = scoped(cut(tables, stamp), factor.scope.kind, factor.scope.market)
    counts = measure_open(deals, pasts)
    amounts = open_amounts(deals, stamp)
    lead = pd.Timedelta(days=lead_days([run.ladder for run in runs]))
    days = pd.date_range(min(stamp.normalize() - lead, edges[0]), edges[-1], freq="D")
    now = int(days.searchsorted(stamp.normalize()))
    inside = (days >= stamp) & (days < edges[-1])
    bucket = np.searchsorted(np.array(edges[1:]), days[inside], side="right")
    mean = np.zeros(len(edges) - 1)
    future = np.zeros((draws, len(edges) - 1))
    for run in runs:
        count_only = factor.measure == "won_count"
        size = None if count_only else run.ladder.deal_size
        steps = run.ladder.steps
        entries = [actual_entries(run, s.stage, days) for s in steps]
        flows = won_arrivals(entries, steps, now)
        if pasts:  # the open deals are projected from the past periods, not by their lags
            pipe = pipeline_for(counts, amounts, run.segment or factor.scope.segment, len(mean))
            expected, simulated = simulate_open(pipe, count_only, draws, rng)
            mean, future = mean + expected, future + simulated
            flows[-1] = 0.0
        buckets = np.stack([np.bincount(bucket, f[inside], len(mean)) for f in flows])
        amounts_won = run.ladder.amounts if size is not None else np.zeros(0)
        future += simulate(buckets, steps, amounts_won, size, draws, rng)
        mean += np.nansum(buckets, axis=0) * (size if size is not None else 1.0)
    return _projection(tables, plan, factor.factor.metric, runs, edges, stamp, mean, future)


def _projection(
    tables: dict[str, ir.Table],
    plan: Plan,
    metric: str,
    runs: Sequence[Run],
    edges: list[pd.Timestamp],
    stamp: pd.Timestamp,
    mean: np.ndarray,
    future: np.ndarray,
) -> Projection:
    """Assemble the projection: cumulative target, actual, expected and band per month end."""
    goal = runs[0].factor.factor
    done = [
        metric_value(tables, plan, metric, edges[0].date(), min(e, stamp).to_pydatetime()) or 0.0
        for e in edges[1:]
    ]
    months = month_count(horizon(plan)) if goal.period == "horizon" else None
    per_month = goal.target / (months or MONTHS_PER_PERIOD[goal.period])
    so_far = done[-1]  # the value from the period's start to as_of (or to its end)
    cumulative = np.cumsum(future, axis=1)
    frame = pd.DataFrame(
        {
            "month_end": [e.date() for e in edges[1:]],
            "target": per_month * np.arange(1, len(edges)),
            "actual": [d if e <= stamp else None for d, e in zip(done, edges[1:], strict=True)],
            "expected": so_far + np.cumsum(mean),
            "low": so_far + np.quantile(cumulative, LOW, axis=0),
            "high": so_far + np.quantile(cumulative, HIGH, axis=0),
        }
    )
    target = per_month * (len(edges) - 1)
    last = frame.iloc[-1]

    def ratio(value: float) -> float | None:
        return float(value) / target if target else None

    return Projection(
        goal.id,
        edges[0].date(),
        edges[-1].date(),
        target,
        so_far,
        float(last["expected"]),
        float(last["low"]),
        float(last["high"]),
        ratio(last["expected"]),
        ratio(last["low"]),
        ratio(last["high"]),
        frame,
    )

"""The cascade's assumptions: deal size, conversion and lag per ladder step, per segment.

Measured over a lookback window of history [start, as_of) (whole months, see
:func:`.ladder.window`), on the factor's scope (its opportunity kind and market):

* **deal size**: the average amount of the won deals closed in the window.
* **reach** of a step k -> k+1: the funnel's cohort conversion (the definition of
  :mod:`missionline.metrics.funnel`) over the *mature* monthly cohorts of the window, those
  whose month ended at least the step's p90 lag before as_of (all the window's cohorts when
  none is mature yet).
* **side share**: the share of the next stage's first entries in the window that did not come
  through stage k (they skipped it, as an MQL going straight to SQL, or joined part-way).
* **conversion** = reach ÷ (1 - side share): the ratio of next-stage entries to stage entries
  that the ladder needs, so that required volumes match actual volumes even when records skip
  a stage.
* **lag**: the distribution (whole days) from entering stage k to entering k+1, over the
  converters of the mature cohorts (of all cohorts when none is mature), up to its 99th
  percentile (the longest 1%, records left waiting, would spread needs years back).
* **cost per entry** (company-wide): the spend of the function owning the first ladder stage,
  by ``period_start`` in the window, ÷ first entries into the stage in the window.
* **segment mix**: each segment's share of the won amount (and of the won deals) in the window.

A segment without measurements falls back to the all-segment ones (its source says so). The
plan's ``cascade.assumptions`` replace measured numbers (source ``plan``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from missionline.metrics.library import MEASURES
from missionline.plan.models import MetricDefinition, Plan, Stage
from missionline.plan.models_cascade import CascadeAssumptions
from missionline.planning import measure
from missionline.planning.ladder import cut, scoped, window

PLAN = "plan"
NO_DATA = "none (no history and no plan value)"
TAIL = 0.99


@dataclass(frozen=True)
class Step:
    """One ladder step's assumptions: conversion and lag from ``stage`` to ``next_stage``."""

    stage: str
    next_stage: str
    conversion: float | None
    conversion_source: str
    lag: np.ndarray
    lag_source: str
    reach: float | None = None
    side_share: float | None = None
    entries: int = 0

    @property
    def lag_mean(self) -> float:
        """The mean lag in days."""
        return float(np.dot(np.arange(len(self.lag)), self.lag))

    def lag_quantile(self, q: float) -> float:
        """A quantile of the lag in whole days."""
        return float(_quantile(self.lag, q))


@dataclass(frozen=True)
class Ladder:
    """The assumptions of one ladder: a segment's, or every segment's (``segment`` None)."""

    segment: str | None
    deal_size: float | None
    deal_size_source: str
    steps: tuple[Step, ...]
    amounts: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass(frozen=True)
class Assumptions:
    """Everything the cascade assumes for one scope, and the history it was measured on."""

    kind: str | None
    market: str | None
    lookback: str
    start: pd.Timestamp
    end: pd.Timestamp
    stages: tuple[str, ...]
    owners: tuple[str | None, ...]
    ladders: dict[str | None, Ladder]
    mix: dict[str, dict[str, float]]
    cost_per_entry: dict[str, float | None]
    cost_source: str

    def ladder(self, segment: str | None) -> Ladder:
        """The ladder of a segment (the all-segment one when the segment has no history)."""
        return self.ladders.get(segment) or self.ladders[None]


def point_lag(days: float) -> np.ndarray:
    """A lag of exactly ``days`` as a daily distribution (split between the two whole days)."""
    whole = int(np.floor(days))
    share = days - whole
    pmf = np.zeros(whole + 2)
    pmf[whole], pmf[whole + 1] = 1 - share, share
    return pmf if share else pmf[: whole + 1]


def _pmf(hist: pd.DataFrame) -> np.ndarray:
    """A daily distribution from rows of (days, n), up to its 99th percentile; none (empty)
    without converters. The longest 1% of lags (records left waiting) are dropped, so that
    no need reaches years back."""
    if hist.empty or hist["n"].sum() == 0:
        return np.zeros(0)
    counts = hist.groupby("days")["n"].sum()
    pmf = np.zeros(int(counts.index.max()) + 1)
    pmf[counts.index.to_numpy(dtype=int)] = counts.to_numpy(dtype=float)
    pmf = pmf[: _quantile(pmf / pmf.sum(), TAIL) + 1]
    return pmf / pmf.sum()


def _quantile(pmf: np.ndarray, q: float) -> int:
    return int(np.searchsorted(np.cumsum(pmf), q - 1e-12)) if len(pmf) else 0


def _step(
    stage: Stage,
    nxt: Stage,
    rows: pd.DataFrame,
    side: pd.DataFrame,
    end: pd.Timestamp,
    lookback: str,
) -> Step | None:
    """Measure one step from its cohort rows (already restricted to the step and segment)."""
    hist = rows.dropna(subset=["days"])
    wait = _quantile(_pmf(hist), 0.9)  # a cohort is mature once its month is this far behind
    ended = rows["month"] + pd.offsets.MonthBegin(1)
    mature = rows[ended <= end - pd.Timedelta(days=wait)]
    note = ""
    if mature["n"].sum() == 0:
        mature, note = rows, ", recent cohorts still converting"
    entries = int(mature["n"].sum())
    if entries == 0:
        return None
    converted = mature.dropna(subset=["days"])
    reach = float(converted["n"].sum()) / entries
    lag = _pmf(converted) if len(converted) else _pmf(hist)
    came, total = int(side["came_through"].sum()), int(side["entries"].sum())
    side_share = 1 - came / total if total else 0.0
    conversion = reach / (1 - side_share) if side_share < 1 else None
    return Step(
        stage.id,
        nxt.id,
        conversion,
        f"measured, lookback {lookback} (cohorts of {entries:,} entries{note})",
        lag if len(lag) else np.ones(1),
        f"measured, lookback {lookback} ({int(converted['n'].sum()):,} conversions)"
        if len(lag)
        else NO_DATA,
        reach,
        side_share,
        entries,
    )


def _ladder(
    stages: list[Stage],
    segment: str | None,
    frames: dict[str, pd.DataFrame],
    end: pd.Timestamp,
    lookback: str,
) -> Ladder:
    """Measure the ladder of one segment (None: every record) from the measured frames."""

    def rows(name: str) -> pd.DataFrame:
        frame = frames[name]
        return frame if segment is None else frame[frame["segment"] == segment]

    cohorts, side = rows("cohorts"), rows("side")
    steps = []
    for stage, nxt in itertools.pairwise(stages):
        step = _step(
            stage,
            nxt,
            cohorts[cohorts["step"] == stage.id],
            side[side["step"] == stage.id],
            end,
            lookback,
        )
        steps.append(step or Step(stage.id, nxt.id, None, NO_DATA, np.ones(1), NO_DATA))
    amounts = rows("amounts")["amount"].to_numpy(dtype=float)
    size = float(amounts.mean()) if len(amounts) else None
    source = f"measured, lookback {lookback} ({len(amounts):,} won deals)"
    return Ladder(segment, size, source if size else NO_DATA, tuple(steps), amounts)


def _mix(amounts: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Each known segment's share of the won amount and of the won deals."""
    known = amounts.dropna(subset=["segment"])
    out: dict[str, dict[str, float]] = {"won_amount": {}, "won_count": {}}
    if known.empty:
        return out
    sums = known.groupby("segment")["amount"].agg(["sum", "count"])
    for measure_name, column in (("won_amount", "sum"), ("won_count", "count")):
        total = float(sums[column].sum())
        if total > 0:
            out[measure_name] = {str(k): float(v) / total for k, v in sums[column].items()}
    return out


def _costs(
    tables: dict[str, ir.Table],
    plan: Plan,
    stages: list[Stage],
    cohorts: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> tuple[dict[str, float | None], str]:
    """Spend of the first stage's owner in the window ÷ first entries per stage in the window."""
    owner = stages[0].owner
    if owner is None:
        return {s.id: None for s in stages[:-1]}, "none (the first ladder stage has no owner)"
    metric = MetricDefinition(measure="spend", function=owner)
    value = MEASURES["spend"](tables, plan, metric, start.to_pydatetime(), end.to_pydatetime())
    spend = value.execute() if isinstance(value, ir.Scalar) else value
    spend = 0.0 if spend is None or pd.isna(spend) else float(spend)
    counts = cohorts.groupby("step")["n"].sum()
    costs = {s.id: (spend / counts[s.id] if counts.get(s.id, 0) else None) for s in stages[:-1]}
    return costs, f"measured: {owner} spend of {spend:,.0f} in the window ÷ entries"


def measure_assumptions(
    tables: dict[str, ir.Table],
    plan: Plan,
    stages: list[Stage],
    kind: str | None,
    market: str | None,
    as_of: pd.Timestamp,
    lookback: str,
    lookback_days: float,
) -> Assumptions:
    """Measure every assumption of one scope from the history before ``as_of``."""
    start, end = window(as_of, lookback_days)
    history = scoped(cut(tables, as_of), kind, market)
    steps = list(itertools.pairwise(stages))
    frames = {
        "cohorts": measure.step_cohorts(history, steps, start, end),
        "side": measure.side_entries(history, steps, start, end),
        "amounts": measure.won_amounts(history, start, end),
    }
    segments = sorted({str(s) for s in frames["cohorts"]["segment"].dropna()})
    ladders: dict[str | None, Ladder] = {None: _ladder(stages, None, frames, end, lookback)}
    for segment in segments:
        ladders[segment] = _fallback(_ladder(stages, segment, frames, end, lookback), ladders[None])
    costs, cost_source = _costs(history, plan, stages, frames["cohorts"], start, end)
    return Assumptions(
        kind,
        market,
        lookback,
        start,
        end,
        tuple(s.id for s in stages),
        tuple(s.owner for s in stages),
        ladders,
        _mix(frames["amounts"]),
        costs,
        cost_source,
    )


def _fallback(own: Ladder, every: Ladder) -> Ladder:
    """A segment's ladder with the all-segment number wherever the segment has none."""
    note = "measured for all segments"
    steps = tuple(
        step
        if step.conversion is not None
        else replace(
            base,
            conversion_source=base.conversion_source.replace("measured", note, 1),
            lag_source=base.lag_source.replace("measured", note, 1),
        )
        for step, base in zip(own.steps, every.steps, strict=True)
    )
    if own.deal_size is None and every.deal_size is not None:
        own = replace(
            own,
            deal_size=every.deal_size,
            deal_size_source=every.deal_size_source.replace("measured", note, 1),
            amounts=every.amounts,
        )
    return replace(own, steps=steps)


def _override(
    values: dict[str, float | dict[str, float]], segment: str | None, stage: str
) -> float | None:
    """The plan's number for a stage: the segment's own, else the every-segment one."""
    own = values.get(segment) if segment is not None else None
    if isinstance(own, dict) and stage in own:
        return float(own[stage])
    general = values.get(stage)
    return float(general) if isinstance(general, int | float) else None


def with_plan(assumptions: Assumptions, given: CascadeAssumptions | None) -> Assumptions:
    """Replace measured numbers with the plan's ``cascade.assumptions`` where it gives them."""
    if given is None:
        return assumptions
    ladders = {}
    for segment, ladder in assumptions.ladders.items():
        steps = []
        for step in ladder.steps:
            rate = _override(dict(given.conversion), segment, step.stage)
            lag = _override(dict(given.lag_days), segment, step.stage)
            if rate is not None:
                step = replace(
                    step, conversion=rate, conversion_source=PLAN, reach=None, side_share=None
                )
            if lag is not None:
                step = replace(step, lag=point_lag(lag), lag_source=PLAN)
            steps.append(step)
        size = given.deal_size
        if isinstance(size, dict):
            size = size.get(segment) if segment is not None else None
        if size is not None:
            ladder = replace(ladder, deal_size=float(size), deal_size_source=PLAN)
        ladders[segment] = replace(ladder, steps=tuple(steps))
    return replace(assumptions, ladders=ladders)

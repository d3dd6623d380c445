"""The cascade's output tables, built from its daily runs: needs, function targets, budget,
and the assumptions with their sources."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from missionline.plan.models import Plan
from missionline.planning.ladder import horizon, period_label

if TYPE_CHECKING:  # the runs are built in .cascade, which imports these builders
    from missionline.planning.cascade import Run

REQUIRED_COLUMNS = ["success_factor", "segment", "stage", "period", "required", "function"]
FUNCTION_COLUMNS = ["function", "success_factor", "segment", "period", "measure", "stage", "value"]
BUDGET_COLUMNS = [
    "success_factor",
    "segment",
    "period",
    "stage",
    "required",
    "cost_per_entry",
    "budget",
    "source",
]
ASSUMPTION_COLUMNS = [
    "success_factor",
    "segment",
    "assumption",
    "stage",
    "next_stage",
    "value",
    "source",
    "reach",
    "side_share",
    "lag_median_days",
    "lag_p90_days",
]
MEASURE_ORDER = {"entries": 0, "budget": 1, "win_rate": 2, "bookings": 3}


def _columns(columns: list[str], by_segment: bool) -> list[str]:
    return columns if by_segment else [c for c in columns if c != "segment"]


def per_period(run: Run, days: pd.DatetimeIndex, period: str, start: dt.date) -> pd.DataFrame:
    """A run's needs summed per period: one column per ladder stage.

    Every period that overlaps the horizon is kept; earlier ones only when some stage needs
    half a record or more (the thin tails of long lags are left out).
    """
    daily = pd.DataFrame(run.required, index=days)
    sums = daily.groupby(period_label(days, period)).sum(min_count=1)
    first = period_label(pd.DatetimeIndex([start]), period)[0]
    keep = (sums.index >= first) | (sums.fillna(1.0) >= 0.5).any(axis=1)
    return sums[keep]


def required_rows(
    runs: Sequence[Run], days: pd.DatetimeIndex, plan: Plan, period: str, by_segment: bool
) -> pd.DataFrame:
    """Entries needed per success factor, (segment,) stage and period, with the stage's owner."""
    owners = {s.id: s.owner for s in plan.lifecycle.stages}
    rows = []
    for run in runs:
        sums = per_period(run, days, period, horizon(plan).start)
        for stage in sums.columns:
            for label, value in sums[stage].items():
                rows.append(
                    {
                        "success_factor": run.factor.id,
                        "segment": run.segment,
                        "stage": stage,
                        "period": label,
                        "required": float(value),
                        "function": owners.get(stage),
                    }
                )
    return pd.DataFrame(rows, columns=_columns(REQUIRED_COLUMNS, by_segment))


def _budget(run: Run, sums: pd.DataFrame) -> tuple[str, float | None, pd.Series]:
    """The first stage, its cost per entry, and the budget per period (needs * cost)."""
    first = run.ladder.steps[0].stage
    cost = run.scope.cost_per_entry.get(first)
    return first, cost, sums[first] * (cost if cost is not None else np.nan)


def budget_rows(
    runs: Sequence[Run], days: pd.DatetimeIndex, plan: Plan, period: str, by_segment: bool
) -> pd.DataFrame:
    """The budget per period: entries needed at the first stage * its measured cost."""
    rows = []
    for run in runs:
        sums = per_period(run, days, period, horizon(plan).start)
        first, cost, budget = _budget(run, sums)
        for (label, row), spend in zip(sums.iterrows(), budget, strict=True):
            rows.append(
                {
                    "success_factor": run.factor.id,
                    "segment": run.segment,
                    "period": label,
                    "stage": first,
                    "required": float(row[first]),
                    "cost_per_entry": cost,
                    "budget": float(spend),
                    "source": run.scope.cost_source,
                }
            )
    return pd.DataFrame(rows, columns=_columns(BUDGET_COLUMNS, by_segment))


def function_rows(
    runs: Sequence[Run], days: pd.DatetimeIndex, plan: Plan, period: str, by_segment: bool
) -> pd.DataFrame:
    """Each function's targets per period: its stages' entries; budget; win rate, bookings."""
    owners = {s.id: s.owner for s in plan.lifecycle.stages}
    rows = []
    for run in runs:
        sums = per_period(run, days, period, horizon(plan).start)
        first, _, budget = _budget(run, sums)
        won = run.ladder.steps[-1].next_stage
        size = run.ladder.deal_size
        for (label, row), spend in zip(sums.iterrows(), budget, strict=True):
            base = {"success_factor": run.factor.id, "segment": run.segment, "period": label}
            for stage in sums.columns:
                value = float(row[stage])
                rows.append(
                    {
                        **base,
                        "function": owners.get(stage),
                        "measure": "entries",
                        "stage": stage,
                        "value": value,
                    }
                )
            rows.append(
                {
                    **base,
                    "function": owners.get(first),
                    "measure": "budget",
                    "stage": first,
                    "value": float(spend),
                }
            )
            rows.append(
                {
                    **base,
                    "function": owners.get(won),
                    "measure": "win_rate",
                    "stage": won,
                    "value": run.ladder.steps[-1].conversion,
                }
            )
            bookings = float(row[won]) * size if size is not None else None
            rows.append(
                {
                    **base,
                    "function": owners.get(won),
                    "measure": "bookings",
                    "stage": won,
                    "value": bookings,
                }
            )
    frame = pd.DataFrame(rows, columns=FUNCTION_COLUMNS)
    if len(frame):
        order = frame["measure"].map(MEASURE_ORDER)
        frame = frame.assign(_order=order, _fn=frame["function"].fillna("\uffff"))
        keys = ["_fn", "success_factor", "segment", "period", "_order"]
        frame = frame.sort_values(keys, kind="stable").drop(columns=["_order", "_fn"])
    return frame[_columns(FUNCTION_COLUMNS, by_segment)].reset_index(drop=True)


def assumption_rows(runs: Sequence[Run], by_segment: bool) -> pd.DataFrame:
    """Every number a run used, with where it came from."""
    rows = []
    for run in runs:
        base = {"success_factor": run.factor.id, "segment": run.segment}
        lad = run.ladder
        rows.append(
            {
                **base,
                "assumption": "deal_size",
                "value": lad.deal_size,
                "source": lad.deal_size_source,
            }
        )
        if run.share != 1.0:
            rows.append(
                {
                    **base,
                    "assumption": "segment_share",
                    "value": run.share,
                    "source": f"measured: the segment's share of {run.factor.measure} "
                    f"in the lookback window ({run.scope.lookback})",
                }
            )
        for step in lad.steps:
            edge = {"stage": step.stage, "next_stage": step.next_stage}
            rows.append(
                {
                    **base,
                    **edge,
                    "assumption": "conversion",
                    "value": step.conversion,
                    "source": step.conversion_source,
                    "reach": step.reach,
                    "side_share": step.side_share,
                }
            )
            rows.append(
                {
                    **base,
                    **edge,
                    "assumption": "lag_days",
                    "value": step.lag_mean,
                    "source": step.lag_source,
                    "lag_median_days": step.lag_quantile(0.5),
                    "lag_p90_days": step.lag_quantile(0.9),
                }
            )
        for stage, cost in run.scope.cost_per_entry.items():
            rows.append(
                {
                    **base,
                    "assumption": "cost_per_entry",
                    "stage": stage,
                    "value": cost,
                    "source": run.scope.cost_source,
                }
            )
    return pd.DataFrame(rows, columns=_columns(ASSUMPTION_COLUMNS, by_segment))

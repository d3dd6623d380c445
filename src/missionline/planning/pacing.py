"""Pacing: actual entries against the cascade's needs to date, and each factor's projection.

* **Rows**: per success factor, (segment,) ladder stage and month of the horizon up to
  ``as_of``: ``required`` (the cascade's needs on the days before ``as_of``, so the current
  month is pro-rated), ``actual`` (first entries into the stage on those days, in the factor's
  scope), ``gap`` = actual - required and ``pace`` = actual ÷ required.
* **Projections**: each cascadable success factor over its current period, see
  :mod:`.projection`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from missionline.data.importer import Progress
from missionline.data.schema import Table
from missionline.metrics.pipeline import AsOf, resolve_as_of
from missionline.plan.models import Plan
from missionline.planning import measure
from missionline.planning.cascade import (
    CascadeResult,
    Run,
    check_by,
    measure_scopes,
    run_cascade,
)
from missionline.planning.ladder import cut, horizon, ladder, period_label, scoped
from missionline.planning.projection import Projection, project

COLUMNS = ["success_factor", "segment", "stage", "period", "required", "actual", "gap", "pace"]


@dataclass(frozen=True)
class PacingResult:
    """Actual against required per stage and month, and the factors' projections."""

    rows: pd.DataFrame
    projections: list[Projection]
    as_of: pd.Timestamp
    cascade: CascadeResult


def _entries(
    tables: dict[str, ir.Table], plan: Plan, result: CascadeResult, stamp: pd.Timestamp
) -> dict[tuple[str | None, str | None], pd.DataFrame]:
    """Actual first entries per day into each ladder stage, by segment, for each scope."""
    stages = ladder(plan)
    history = cut(tables, stamp)
    return {key: measure.daily_entries(scoped(history, *key), stages) for key in result.scopes}


def _actual(run: Run, entries: pd.DataFrame, stage: str, days: pd.DatetimeIndex) -> np.ndarray:
    """A run's actual first entries per day of ``days`` into ``stage``."""
    segment = run.segment or run.factor.scope.segment
    rows = entries[entries["stage"] == stage]
    if segment is not None:
        rows = rows[rows["segment"] == segment]
    daily = rows.groupby("day")["entries"].sum()
    return daily.reindex(days, fill_value=0).to_numpy(dtype=float)


def _rows(
    result: CascadeResult,
    entries: dict[tuple[str | None, str | None], pd.DataFrame],
    plan: Plan,
    stamp: pd.Timestamp,
) -> pd.DataFrame:
    """Required and actual per factor, (segment,) stage and month, up to ``as_of``."""
    span = horizon(plan)
    days = result.days
    keep = (days >= pd.Timestamp(span.start)) & (days < stamp)
    months = period_label(days[keep], "month")
    frames = []
    for run in result.runs:
        scope = entries[(run.factor.scope.kind, run.factor.scope.market)]
        for stage, need in run.required.items():
            actual = _actual(run, scope, stage, days)
            part = pd.DataFrame({"required": need[keep], "actual": actual[keep]})
            part = part.groupby(months).sum().rename_axis("period").reset_index()
            part.insert(0, "stage", stage)
            part.insert(0, "segment", run.segment)
            part.insert(0, "success_factor", run.factor.id)
            frames.append(part)
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    out["gap"] = out["actual"] - out["required"]
    out["pace"] = out["actual"] / out["required"].where(out["required"] > 0)
    columns = COLUMNS if result.by_segment else [c for c in COLUMNS if c != "segment"]
    return out[columns]


def pacing(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    by: Sequence[str] = (),
    as_of: AsOf = None,
    lookback: str | None = None,
    draws: int = 2000,
    seed: int = 0,
    progress: Progress | None = None,
) -> PacingResult:
    """Actual against required to date per stage and month; each factor's projection."""
    by_segment = check_by(by)
    stamp = resolve_as_of(tables, as_of)
    scopes = measure_scopes(tables, schema, plan, stamp, lookback, progress)
    result = run_cascade(plan, scopes, by_segment)
    report = progress or (lambda label, done: None)
    entries = _entries(tables, plan, result, stamp)
    rng = np.random.default_rng(seed)

    def actual(run: Run, stage: str, days: pd.DatetimeIndex) -> np.ndarray:
        return _actual(run, entries[(run.factor.scope.kind, run.factor.scope.market)], stage, days)

    projections = []
    factors = list(dict.fromkeys(run.factor.id for run in result.runs))
    for i, factor in enumerate(factors):
        report("projecting the success factors", i / len(factors))
        runs = [r for r in result.runs if r.factor.id == factor]
        projections.append(project(tables, plan, runs, actual, stamp, draws, rng))
    report("projecting the success factors", 1.0)
    return PacingResult(_rows(result, entries, plan, stamp), projections, stamp, result)

"""Targets against actuals: each success factor and objective, judged on its last full period.

Status thresholds (documented in docs/plan.md): on track at 95% of target or more, at risk
from 80%, off track below. For spend, lower is better: on track up to 105% of the budget.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import ibis.expr.types as ir
import pandas as pd

from missionline.metrics.library import metric_value
from missionline.plan.models import Objective, Plan, SuccessFactor

Status = Literal["on_track", "at_risk", "off_track", "no_data"]
ON_TRACK, AT_RISK = 0.95, 0.80
MONTHS = {"month": 1, "quarter": 3, "year": 12}


@dataclass(frozen=True)
class Attainment:
    """One target against its actual over one period."""

    id: str
    kind: Literal["success_factor", "objective"]
    function: str | None
    metric: str
    target: float
    unit: str | None
    period: str
    period_start: dt.date
    period_end: dt.date
    actual: float | None
    attainment: float | None
    status: Status


def data_end(tables: dict[str, ir.Table]) -> dt.date | None:
    """The day after the latest stage entry: the data run up to (not including) this date."""
    latest = tables["stage_events"].entered_at.max().execute()
    if latest is None or pd.isna(latest):
        return None
    return pd.Timestamp(latest).date() + dt.timedelta(days=1)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def last_full_period(end: dt.date, period: str, plan: Plan) -> tuple[dt.date, dt.date]:
    """The latest whole month/quarter/year ending on or before ``end`` (or the horizon)."""
    if period == "horizon":
        if plan.mission is None:
            raise ValueError("a 'horizon' target needs mission.horizon")
        return plan.mission.horizon.start, plan.mission.horizon.end + dt.timedelta(days=1)
    months = MONTHS[period]
    month_index = end.year * 12 + end.month - 1
    start_index = (month_index // months) * months  # start of the period containing `end`
    period_end = dt.date(start_index // 12, start_index % 12 + 1, 1)
    if period_end > end:
        period_end = _add_months(period_end, -months)
    return _add_months(period_end, -months), period_end


def status_of(actual: float | None, target: float, measure: str) -> tuple[float | None, Status]:
    """Attainment (actual ÷ target) and its status; spend is judged the other way round."""
    if actual is None or target == 0:
        return None, "no_data"
    ratio = actual / target
    if measure == "spend":
        return ratio, "on_track" if ratio <= 2 - ON_TRACK else (
            "at_risk" if ratio <= 2 - AT_RISK else "off_track"
        )
    return ratio, "on_track" if ratio >= ON_TRACK else (
        "at_risk" if ratio >= AT_RISK else "off_track"
    )


def attainments(tables: dict[str, ir.Table], plan: Plan) -> list[Attainment]:
    """Every success factor and objective against its actual in its last full period."""
    end = data_end(tables)
    items: list[tuple[Literal["success_factor", "objective"], SuccessFactor | Objective]] = [
        *(("success_factor", f) for f in plan.success_factors),
        *(("objective", o) for o in plan.objectives),
    ]
    out = []
    for kind, item in items:
        metric = plan.metrics.get(item.metric)
        if end is None or metric is None:
            start = stop = end or dt.date.today()
            actual = None
        else:
            start, stop = last_full_period(end, item.period, plan)
            actual = metric_value(tables, plan, item.metric, start, stop)
        ratio, status = status_of(actual, item.target, metric.measure if metric else "")
        function = item.function if isinstance(item, Objective) else None
        out.append(
            Attainment(
                item.id,
                kind,
                function,
                item.metric,
                item.target,
                item.unit,
                item.period,
                start,
                stop,
                actual,
                ratio,
                status,
            )
        )
    return out

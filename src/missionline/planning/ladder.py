"""The cascade's ladder and time axis: which stages, which success factors, which days.

* The **ladder** is the plan's main path from ``cascade.start_stage`` (default: the first
  main-path stage) down to the won stage (``won``, else the last main-path stage).
* A success factor is **cascadable** when its metric measures ``won_amount`` (bookings) or
  ``won_count`` and the plan has a ``mission.horizon``; its metric's ``kind``, ``segment`` and
  ``market`` filters are the factor's **scope**.
* Targets are spread over the horizon: a period's target is split evenly over the months of
  the period (a quarter's target is a third per month, a ``horizon`` target the same share per
  month of the horizon), and a month's share evenly over its days. Days of the horizon's first
  or last month outside the horizon get nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from missionline.errors import MissionlineError
from missionline.metrics.stays import won_stage
from missionline.plan.models import Horizon, Plan, Stage, SuccessFactor

CASCADABLE = ("won_amount", "won_count")
MONTHS_PER_PERIOD = {"month": 1, "quarter": 3, "year": 12}
DEFAULT_LOOKBACK = "365d"


@dataclass(frozen=True)
class Scope:
    """The opportunities a success factor counts: its metric's kind, segment and market."""

    kind: str | None = None
    segment: str | None = None
    market: str | None = None


@dataclass(frozen=True)
class Factor:
    """A cascadable success factor: the factor, its measure and its scope."""

    factor: SuccessFactor
    measure: str
    scope: Scope

    @property
    def id(self) -> str:
        """The success factor's id."""
        return self.factor.id


def ladder(plan: Plan) -> list[Stage]:
    """The ladder's stages, from the start stage down to the won stage, in plan order."""
    path = plan.lifecycle.path()
    won = won_stage(plan)
    start = plan.cascade.start_stage if plan.cascade and plan.cascade.start_stage else None
    first = next((i for i, s in enumerate(path) if s.id == start), 0) if start else 0
    stages = path[first : path.index(won) + 1]
    if len(stages) < 2:
        raise MissionlineError(
            f"the cascade needs at least two stages from {path[first].id} to {won.id}; "
            "set cascade.start_stage to an earlier main-path stage"
        )
    return stages


def factors(plan: Plan) -> tuple[list[Factor], list[dict[str, str]]]:
    """The cascadable success factors, and the others with the reason they are not."""
    found, skipped = [], []
    for factor in plan.success_factors:
        metric = plan.metrics.get(factor.metric)
        if metric is None:
            reason = f"its metric {factor.metric!r} is not defined under metrics"
        elif metric.measure not in CASCADABLE:
            reason = (
                f"its metric measures {metric.measure}; only won_amount (bookings) and "
                "won_count targets cascade down the ladder"
            )
        elif plan.mission is None:
            reason = "the plan has no mission.horizon to spread the target over"
        else:
            scope = Scope(metric.kind, metric.segment, metric.market)
            found.append(Factor(factor, metric.measure, scope))
            continue
        skipped.append({"success_factor": factor.id, "reason": reason})
    return found, skipped


def horizon(plan: Plan) -> Horizon:
    """The plan's horizon (cascadable factors exist only when there is one)."""
    if plan.mission is None:
        raise MissionlineError("the cascade needs mission.horizon in the plan")
    return plan.mission.horizon


def month_count(span: Horizon) -> int:
    """Calendar months the horizon touches."""
    return (span.end.year - span.start.year) * 12 + span.end.month - span.start.month + 1


def daily_target(factor: SuccessFactor, span: Horizon, days: pd.DatetimeIndex) -> np.ndarray:
    """The factor's target per day of ``days``: even per month of its period, even per day."""
    months = month_count(span) if factor.period == "horizon" else MONTHS_PER_PERIOD[factor.period]
    per_month = factor.target / months
    inside = (days >= pd.Timestamp(span.start)) & (days <= pd.Timestamp(span.end))
    return np.where(inside, per_month / days.days_in_month.to_numpy(), 0.0)


def grid(span: Horizon, lead_days: int) -> pd.DatetimeIndex:
    """The daily axis: from ``lead_days`` before the horizon to its last day."""
    start = pd.Timestamp(span.start) - pd.Timedelta(days=lead_days)
    return pd.date_range(start, pd.Timestamp(span.end), freq="D")


def window(as_of: pd.Timestamp, lookback_days: float) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The history the measured assumptions use: whole months from as_of - lookback to as_of.

    The start is the first day of the month after ``as_of - lookback`` (or that day when it is
    a month's first), so every cohort month is whole.
    """
    start = (as_of - pd.Timedelta(days=lookback_days)).normalize()
    if start.day != 1:
        start = start + pd.offsets.MonthBegin(1)
    return start, as_of


def cut(tables: dict[str, ir.Table], as_of: pd.Timestamp) -> dict[str, ir.Table]:
    """The tables as they were at ``as_of``: stage entries from then on left out."""
    events = tables["stage_events"]
    at = ibis.literal(as_of.to_pydatetime(), type="timestamp")
    return {**tables, "stage_events": events.filter(events.entered_at < at)}


def scoped(
    tables: dict[str, ir.Table], kind: str | None, market: str | None
) -> dict[str, ir.Table]:
    """The tables restricted to one opportunity kind and one market (when given).

    Opportunity records of other kinds leave ``opportunities`` and ``stage_events``; with a
    market, so do the people, opportunities and accounts of other markets.
    """
    if kind is None and market is None:
        return tables
    out = dict(tables)
    opps = tables["opportunities"]
    if kind is not None:
        opps = opps.filter(opps.kind == kind)
    if market is not None:
        accounts = tables["accounts"].filter(tables["accounts"].market == market)
        people = tables["people"].filter(tables["people"].account_id.isin(accounts.account_id))
        opps = opps.filter(opps.account_id.isin(accounts.account_id))
        out.update(accounts=accounts, people=people)
    out["opportunities"] = opps
    events = tables["stage_events"]
    keep = events.record_type.isin(["person", "account"]) | events.record_id.isin(
        opps.opportunity_id
    )
    if market is not None:
        keep = (
            ((events.record_type == "person") & events.record_id.isin(out["people"].person_id))
            | ((events.record_type == "opportunity") & events.record_id.isin(opps.opportunity_id))
            | (
                (events.record_type == "account")
                & events.record_id.isin(out["accounts"].account_id)
            )
        )
    out["stage_events"] = events.filter(keep)
    return out


def period_label(days: pd.DatetimeIndex, period: str) -> pd.Index:
    """The first day of each day's period (week: Monday; month, quarter, year)."""
    freq = {"week": "W-SUN", "month": "M", "quarter": "Q-DEC", "year": "Y-DEC"}
    if period not in freq:
        raise MissionlineError(f"unknown period {period!r}; use week, month, quarter or year")
    return pd.Index([p.start_time.date() for p in days.to_period(freq[period])])

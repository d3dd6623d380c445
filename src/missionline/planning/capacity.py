"""Capacity: the cascade's demand against sales capacity and the marketing budget, per month.

Per month of the horizon (needs of every factor at once: :func:`.cascade.combined`):

* ``required_opportunities``: entries needed at the opportunity stage (the first ladder stage
  of record type ``opportunity``, else the stage before won);
* ``required_open``: the open deals that demand keeps on the reps' desks, the month's average
  of ``Σ_d needed[t - d] * S(d)`` (Little's law, day by day), where S(d) is the share of deals
  still open d days after creation (Kaplan-Meier over the scope's deals created in the lookback
  window, deals open at as_of censored);
* ``open_deals``: deals of any kind open at the month's end (months before as_of), as in
  ``missionline pipeline --period month``;
* ``sales_capacity``: Σ ``owners.capacity`` over owners with a capacity above 0 (as in the
  wave; today's roster for every month); ``capacity_use`` = required_open ÷ sales_capacity;
* ``required_mqls``: entries needed at the hand-off stage (the last ladder stage owned by the
  first stage's owner: mql in the demo); ``cost_per_mql``: the measured cost per entry there;
* ``marketing_budget``: the plan's initiative budgets of the first stage's owner, each spread
  evenly over its months (start to end, else the horizon) - or, when the plan gives none, the
  run-rate spend per month of the lookback window (``budget_source`` says which);
  ``fundable_mqls`` = marketing_budget ÷ cost_per_mql.

Flags: ``resource_scarcity`` when demand is beyond capacity (required_open or the actual
open_deals above sales_capacity, or required_mqls above fundable_mqls; ``scarce`` names which),
and
``opportunity_scarcity`` when capacity idles for lack of pipeline: the open deals (the actual
ones in months before as_of, else the required ones) below ``idle_below`` of sales_capacity.
"""

from __future__ import annotations

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from missionline.data.importer import Progress
from missionline.data.schema import Table
from missionline.metrics.pipeline import AsOf, pipeline, resolve_as_of
from missionline.plan.models import Plan
from missionline.planning import measure
from missionline.planning.cascade import CascadeResult, cascade, combined
from missionline.planning.ladder import horizon, ladder, period_label, scoped

IDLE_BELOW = 0.5
COLUMNS = [
    "period",
    "required_opportunities",
    "required_open",
    "open_deals",
    "sales_capacity",
    "capacity_use",
    "required_mqls",
    "cost_per_mql",
    "marketing_budget",
    "budget_source",
    "fundable_mqls",
    "resource_scarcity",
    "scarce",
    "opportunity_scarcity",
]


def survival(frame: pd.DataFrame) -> np.ndarray:
    """S(d): the share of deals still open d whole days after creation (Kaplan-Meier)."""
    if frame.empty:
        return np.ones(1)
    length = int(frame["days"].max()) + 1
    at = np.zeros(length)
    closed = np.zeros(length)
    np.add.at(at, frame["days"].to_numpy(dtype=int), frame["n"].to_numpy(dtype=float))
    mask = frame["closed"].to_numpy(dtype=bool)
    np.add.at(closed, frame["days"].to_numpy(dtype=int)[mask], frame["n"].to_numpy()[mask])
    at_risk = at[::-1].cumsum()[::-1]
    hazard = np.divide(closed, at_risk, out=np.zeros(length), where=at_risk > 0)
    return np.cumprod(1 - hazard)


def _capacity(tables: dict[str, ir.Table]) -> float:
    """Σ owners.capacity over owners with a capacity above 0."""
    owners = tables["owners"]
    total = owners.filter(owners.capacity > 0).capacity.sum().execute()
    return 0.0 if total is None or pd.isna(total) else float(total)


def _handoff(plan: Plan) -> str:
    """The last ladder stage owned by the first stage's owner."""
    stages = ladder(plan)
    owned = [s.id for s in stages[:-1] if s.owner == stages[0].owner]
    return owned[-1] if owned else stages[0].id


def _opportunity(plan: Plan) -> str:
    """The first opportunity stage of the ladder, else the stage before won."""
    stages = ladder(plan)
    found = [s.id for s in stages[:-1] if s.record_type == "opportunity"]
    return found[0] if found else stages[-2].id


def _budget(plan: Plan, days: pd.DatetimeIndex, owner: str | None) -> np.ndarray | None:
    """The plan's initiative budgets of ``owner`` per day (None when the plan gives none)."""
    span = horizon(plan)
    daily = np.zeros(len(days))
    found = False
    for initiative in plan.initiatives:
        if initiative.function != owner or not initiative.budget:
            continue
        start = pd.Timestamp(initiative.start or span.start).replace(day=1)
        end = pd.Timestamp(initiative.end or span.end)
        months = (end.year - start.year) * 12 + end.month - start.month + 1
        inside = (days >= start) & (days < end.replace(day=1) + pd.offsets.MonthBegin(1))
        daily += np.where(inside, initiative.budget / months / days.days_in_month.to_numpy(), 0.0)
        found = True
    return daily if found else None


def capacity_check(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    as_of: AsOf = None,
    lookback: str | None = None,
    idle_below: float = IDLE_BELOW,
    result: CascadeResult | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Per month: demand against sales capacity and marketing budget, with scarcity flags."""
    stamp = resolve_as_of(tables, as_of)
    result = result or cascade(
        tables, schema, plan, lookback=lookback, as_of=stamp, progress=progress
    )
    if not result.runs:
        return pd.DataFrame(columns=COLUMNS)
    days = result.days
    opportunity, handoff = _opportunity(plan), _handoff(plan)
    scope = result.runs[0].scope
    deals = scoped(tables, scope.kind, scope.market)
    stay = survival(measure.open_days(deals, scope.start, scope.end))
    needed = combined(result, opportunity)
    load = np.convolve(needed, stay)[: len(days)]
    owner = ladder(plan)[0].owner
    budget = _budget(plan, days, owner)
    source = "plan: initiative budgets"
    if budget is None:
        spend = measure.channel_spend(tables, owner or "", {}, scope.start, scope.end)
        per_day = float(spend["spend"].sum()) / max((scope.end - scope.start).days, 1)
        budget, source = np.full(len(days), per_day), "measured: run-rate spend"
    daily = pd.DataFrame(
        {
            "required_opportunities": needed,
            "required_open": load,
            "required_mqls": combined(result, handoff),
            "marketing_budget": budget,
        },
        index=days,
    )
    span = horizon(plan)
    inside = daily[(days >= pd.Timestamp(span.start)) & (days <= pd.Timestamp(span.end))]
    labels = period_label(pd.DatetimeIndex(inside.index), "month")
    out = inside.groupby(labels).sum()
    out["required_open"] = inside["required_open"].groupby(labels).mean()
    out = out.rename_axis("period").reset_index()
    cost = scope.cost_per_entry.get(handoff)
    out["cost_per_mql"] = cost
    out["budget_source"] = source
    out["fundable_mqls"] = out["marketing_budget"] / cost if cost else np.nan
    out["sales_capacity"] = _capacity(tables)
    out["capacity_use"] = out["required_open"] / out["sales_capacity"].where(
        out["sales_capacity"] > 0
    )
    opened = pipeline(tables, schema, plan, period="month", as_of=stamp)
    counts = {
        period: count
        for period, count in zip(opened.get("period", []), opened["open_count"], strict=True)
        if pd.Timestamp(period) + pd.offsets.MonthBegin(1) <= stamp  # months ended by as_of
    }
    out["open_deals"] = out["period"].map(counts).astype("float64")
    return _flags(out, idle_below)[COLUMNS]


def _flags(out: pd.DataFrame, idle_below: float) -> pd.DataFrame:
    """Resource scarcity (demand beyond capacity or budget) and opportunity scarcity."""
    room = out["sales_capacity"]
    sales = (room > 0) & ((out["required_open"] > room) | (out["open_deals"] > room))
    budget = out["required_mqls"] > out["fundable_mqls"]
    out["scarce"] = [
        ", ".join(n for n, hit in (("sales capacity", s), ("marketing budget", b)) if hit) or None
        for s, b in zip(sales, budget, strict=True)
    ]
    out["resource_scarcity"] = sales | budget
    load = out["open_deals"].where(out["open_deals"].notna(), out["required_open"])
    out["opportunity_scarcity"] = (room > 0) & (load < idle_below * room)
    return out

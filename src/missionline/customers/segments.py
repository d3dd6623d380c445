"""Segment priorities, outside-in: the expected value of each market and segment per unit of effort.

Per market and segment (definitions in docs/customers.md), measured as of ``as_of`` (default:
the end of the data, as in :mod:`missionline.metrics.pipeline`):

* ``addressable`` = accounts in the accounts table; ``customers`` = active customers;
  ``customer_share`` = customers ÷ addressable; ``won_accounts`` = accounts ever won
  (customers and churned).
* ``won``, ``lost``, ``win_rate``, ``average_deal_size``, ``cycle_days`` (the mean won cycle):
  :func:`missionline.metrics.pipeline.pipeline` by market and segment.
* ``clv`` = mean lifetime value (realised + predicted, :mod:`.value`) of the won accounts.
* ``marketing_cac`` = marketing spend per won account: the spend attributed to the segment
  (:func:`missionline.metrics.inputs.inputs` by segment, through the initiatives' messages)
  ÷ the segment's won accounts, plus the marketing spend no segment can claim ÷ all won
  accounts (spend is not booked by market, so a segment costs the same in every market).
* ``sales_effort`` = sales cost per deal-day * ``cycle_days`` ÷ ``win_rate``: the rep time a
  win takes (each win costs 1 ÷ win rate closed deals of about ``cycle_days`` each), priced at
  the company's sales spend ÷ Σ closed deals * cycle days.
* ``score`` = clv ÷ (marketing_cac + sales_effort): value per unit of sales and marketing cost.
* ``growth`` = won ``new`` and ``expansion`` bookings of the last 365 days ÷ those of the 365
  days before, minus 1 (null without earlier bookings).

The sensitivity gives each row's elasticity of the score to each input and its rank when that
input moves by ±20% (the others held). A **finding** is a market (or segment) whose plan
``priority`` rank differs from its measured rank, the markets ranked by Σ value ÷ Σ cost of
their won accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from missionline.customers.value import account_values
from missionline.data.schema import Table
from missionline.metrics.inputs import efficiency, inputs
from missionline.metrics.pipeline import AsOf, pipeline, resolve_as_of, timestamp
from missionline.plan.models import Plan

KEYS = ["market", "segment"]
FORMULA = (
    "score = clv / (marketing_cac + sales_effort), "
    "sales_effort = sales_cost_per_deal_day * cycle_days / win_rate"
)
INPUTS = ("clv", "marketing_cac", "win_rate", "cycle_days")
CHANGE = 0.2
YEAR = pd.Timedelta(days=365)
COLUMNS = [
    *KEYS,
    "addressable",
    "customers",
    "customer_share",
    "won_accounts",
    "won",
    "lost",
    "win_rate",
    "average_deal_size",
    "cycle_days",
    "clv",
    "marketing_cac",
    "sales_effort",
    "effort",
    "score",
    "rank",
    "growth",
]


SENSITIVITY_COLUMNS = [*KEYS, "input", "elasticity", "rank", "rank_down", "rank_up"]


@dataclass(frozen=True)
class PriorityFinding:
    """A market or segment whose plan priority disagrees with its measured rank."""

    level: str  # "market" or "segment"
    id: str
    plan_priority: int
    plan_rank: int
    measured_rank: int
    score: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The finding as a JSON-ready dict."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class SegmentPriorities:
    """The segment table, the score's formula, its sensitivity and the priority findings."""

    table: pd.DataFrame
    formula: str
    sensitivity: pd.DataFrame
    findings: list[PriorityFinding]
    sales_cost_per_deal_day: float


def _accounts(values: pd.DataFrame) -> pd.DataFrame:
    """Addressable accounts, customers, won accounts and mean CLV per market and segment."""
    won = values["status"] != "prospect"
    frame = values.assign(
        _customer=values["status"] == "customer",
        _won=won,
        _value=values["lifetime_value"].where(won),
    )
    return frame.groupby(KEYS, dropna=False).agg(
        addressable=("account_id", "size"),
        customers=("_customer", "sum"),
        won_accounts=("_won", "sum"),
        clv=("_value", "mean"),
        _won_value=("_value", "sum"),
    )


def _marketing_cac(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    accounts: pd.DataFrame,
) -> pd.Series:
    """Marketing spend per won account: the segment's own spend plus a share of the rest."""
    spent = inputs(tables, schema, plan, by=["segment"])
    own = spent.drop_duplicates("segment").set_index("segment")["spend"]
    own = own[own.index.notna()]
    marketing = float(efficiency(tables, schema, plan, "year")["marketing_spend"].sum())
    won_total = float(accounts["won_accounts"].sum())
    shared = max(marketing - float(own.sum()), 0.0) / won_total if won_total else np.nan
    segment_won = accounts.groupby(level="segment", dropna=False)["won_accounts"].sum()
    per_segment = own.reindex(segment_won.index).fillna(0.0) / segment_won.where(segment_won > 0)
    segments = accounts.index.get_level_values("segment")
    return pd.Series(per_segment.reindex(segments).to_numpy() + shared, index=accounts.index)


def _growth(tables: dict[str, ir.Table], stamp: pd.Timestamp) -> pd.Series:
    """Year-over-year growth of won new and expansion bookings per market and segment."""
    opps = tables["opportunities"]
    won = opps.filter(
        (opps.status == "won")
        & opps.kind.isin(("new", "expansion"))
        & (opps.closed_at < timestamp(stamp))
        & (opps.closed_at >= timestamp(stamp - 2 * YEAR))
    )
    accounts = tables["accounts"]
    joined = won.join(accounts, won.account_id == accounts.account_id)
    recent = joined.closed_at >= timestamp(stamp - YEAR)
    amount = joined.amount.cast("float64")
    booked = joined.group_by(KEYS).agg(
        latest=amount.sum(where=recent), earlier=amount.sum(where=~recent)
    )
    frame = booked.to_pandas().set_index(KEYS)
    earlier = frame["earlier"].astype("float64")
    return frame["latest"].astype("float64").fillna(0.0) / earlier.where(earlier > 0) - 1.0


def _score(frame: pd.DataFrame, rate: float) -> pd.Series:
    """clv ÷ (marketing CAC + sales cost per deal-day * cycle days ÷ win rate)."""
    win_rate = frame["win_rate"].where(frame["win_rate"] > 0)
    effort = frame["marketing_cac"] + rate * frame["cycle_days"] / win_rate
    return frame["clv"] / effort.where(effort > 0)


def _rank(scores: pd.Series) -> pd.Series:
    """Rank 1 = the highest score; rows without a score rank last."""
    return scores.rank(ascending=False, method="min", na_option="bottom").astype("int64")


def sensitivity(table: pd.DataFrame, rate: float) -> pd.DataFrame:
    """Per row and input: the score's elasticity and the row's rank with the input at ±20%."""
    rows = []
    base = table["score"].reset_index(drop=True)
    for index in range(len(table)):
        row = table.iloc[index]
        sales_share = row["sales_effort"] / row["effort"] if row["effort"] else np.nan
        elasticity = {
            "clv": 1.0,
            "marketing_cac": -row["marketing_cac"] / row["effort"] if row["effort"] else np.nan,
            "win_rate": sales_share,
            "cycle_days": -sales_share,
        }
        for name in INPUTS:
            ranks = {}
            for label, factor in (("rank_down", 1 - CHANGE), ("rank_up", 1 + CHANGE)):
                moved = table.iloc[[index]].copy()
                moved[name] = moved[name] * factor
                scores = base.copy()
                scores.iloc[index] = _score(moved, rate).iloc[0]
                ranks[label] = int(_rank(scores).iloc[index])
            rows.append(
                {
                    "market": row["market"],
                    "segment": row["segment"],
                    "input": name,
                    "elasticity": float(elasticity[name]),
                    "rank": int(row["rank"]),
                    **ranks,
                }
            )
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)


def priority_findings(table: pd.DataFrame, plan: Plan) -> list[PriorityFinding]:
    """Markets and segments whose plan priority rank differs from the measured rank."""
    found: list[PriorityFinding] = []
    levels = (("market", plan.markets), ("segment", plan.segments))
    for level, items in levels:
        planned = {item.id: item.priority for item in items}
        measured = table[table[level].isin(list(planned))]
        if measured.empty:
            continue
        won = measured["won_accounts"]
        totals = (
            measured.assign(
                _value=measured["clv"].fillna(0.0) * won, _cost=measured["effort"] * won
            )
            .groupby(level)[["_value", "_cost"]]
            .sum()
        )
        scores = totals["_value"] / totals["_cost"].where(totals["_cost"] > 0)
        ranks = _rank(scores)
        plan_ranks = pd.Series(planned).loc[scores.index].rank(method="min").astype("int64")
        for item in scores.index:
            if ranks[item] == plan_ranks[item]:
                continue
            found.append(
                PriorityFinding(
                    level=level,
                    id=str(item),
                    plan_priority=planned[item],
                    plan_rank=int(plan_ranks[item]),
                    measured_rank=int(ranks[item]),
                    score=float(scores[item]),
                    message=(
                        f"The plan ranks {level} {item} {plan_ranks[item]} of {len(scores)}, "
                        f"but its value per unit of effort ({scores[item]:.2f}) ranks it "
                        f"{ranks[item]}."
                    ),
                )
            )
    return sorted(found, key=lambda f: (f.level != "market", f.plan_rank))


def segment_priorities(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    as_of: AsOf = None,
    horizon_years: int = 3,
) -> SegmentPriorities:
    """Score each market and segment by expected value per unit of sales and marketing effort."""
    stamp = resolve_as_of(tables, as_of)
    values, _ = account_values(tables, schema, plan, horizon_years, stamp)
    if values.empty:  # no accounts: nothing to score
        empty = pd.DataFrame(columns=COLUMNS)
        return SegmentPriorities(empty, FORMULA, sensitivity(empty, 0.0), [], 0.0)
    accounts = _accounts(values)
    deals = pipeline(tables, schema, plan, by=KEYS, as_of=stamp).set_index(KEYS)
    table = accounts.join(
        deals[["won", "lost", "win_rate", "average_deal_size", "average_cycle_days"]], how="left"
    ).rename(columns={"average_cycle_days": "cycle_days"})
    table["marketing_cac"] = _marketing_cac(tables, schema, plan, accounts)
    table["growth"] = _growth(tables, stamp).reindex(table.index)
    table = table.reset_index()
    for column in ("won", "lost"):
        table[column] = table[column].fillna(0).astype("int64")
    table["customers"] = table["customers"].astype("int64")
    table["won_accounts"] = table["won_accounts"].astype("int64")
    table["customer_share"] = table["customers"] / table["addressable"]
    deal_days = float(((table["won"] + table["lost"]) * table["cycle_days"]).sum())
    sales = float(efficiency(tables, schema, plan, "year")["sales_spend"].sum())
    rate = sales / deal_days if deal_days > 0 else 0.0
    win_rate = table["win_rate"].where(table["win_rate"] > 0)
    table["sales_effort"] = rate * table["cycle_days"] / win_rate
    table["effort"] = table["marketing_cac"] + table["sales_effort"]
    table["score"] = _score(table, rate)
    table["rank"] = _rank(table["score"])
    table = table.sort_values(["rank", *KEYS], kind="stable").reset_index(drop=True)[COLUMNS]
    return SegmentPriorities(
        table=table,
        formula=f"{FORMULA}; sales_cost_per_deal_day = {rate:,.2f}",
        sensitivity=sensitivity(table, rate),
        findings=priority_findings(table, plan),
        sales_cost_per_deal_day=rate,
    )

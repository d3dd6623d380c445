"""Every account's value: realised revenue to date, predicted value ahead, and its status.

Definitions (docs/customers.md), measured **as of** ``as_of`` (revenue rows before it; by
default the midnight after the latest revenue row, as in :mod:`missionline.metrics.lifecycle`):

* **status**: ``customer`` (active in the lifecycle ledger: won and not churned),
  ``churned`` (was a customer, its last change is a churn) or ``prospect`` (never won: no
  positive ``new`` revenue row).
* **realised_value**: the sum of the account's positive revenue rows of kind ``new``,
  ``expansion``, ``renewal`` and ``purchase`` (money billed). ``contraction`` and ``churn``
  rows are changes of ARR, not refunds, so they do not reduce it.
* **arr**: the account's ARR from the lifecycle ledger (0 when churned); **run_rate** = arr +
  its ``purchase`` revenue of the last 365 days (orders recur beside the contract).
* **predicted_value**: the discounted run rate of the next ``horizon_years`` years, each year
  k counted with the probability that the account renews k more times:
  ``Σ_k run_rate · S(n+k)/S(n) · (1+d)^-k`` with n = its renewals so far and d = 10% a year.
  S is the **contractual shifted-beta-geometric** model (:func:`fit_sbg_contracts`) fitted on
  the renewals and churns of every contract customer: a B2B book is renewed yearly, churn is
  observed at the anniversaries, and BG/NBD on the demo company finds no dropout at all
  (every P(alive) = 1), which would ignore the churn the contracts show. When the sBG fit does
  not converge (customers with one renewal at most cannot reveal the spread of churn), the
  pooled churn rate ``churned ÷ (renewals + churned)`` is used as a constant (geometric)
  churn; ``model`` says which. Churned accounts and prospects have no predicted value.
* **renewal_probability**: S(n+1)/S(n), the probability of the next renewal.
* **contracted_12m**: ARR given up by contraction in the last 365 days (a positive number).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy.special import betaln

from missionline.data.schema import Table
from missionline.metrics.pipeline import AsOf, timestamp
from missionline.metrics.retention_ledger import ledger, lifecycle_as_of
from missionline.models.clv import fit_sbg_contracts, workspace_contracts
from missionline.plan.models import Plan

DISCOUNT_RATE = 0.10
BILLED_KINDS = ("new", "expansion", "renewal", "purchase")
YEAR = pd.Timedelta(days=365)
# Employee-count bands: the lower bounds; peers are compared within a segment and band.
SIZE_BANDS = (0, 250, 1000, 5000, 25000)
SIZE_LABELS = ("<250", "250-999", "1000-4999", "5000-24999", "25000+")


@dataclass(frozen=True)
class Retention:
    """The renewal model behind the predicted values: its name and survival function."""

    model: str  # "sbg" or "geometric" (the fallback), "none" without contract customers
    alpha: float
    beta: float
    churn: float  # the constant churn of the geometric fallback

    def survival(self, renewals: np.ndarray, ahead: int) -> np.ndarray:
        """P(renewing ``ahead`` more times | ``renewals`` so far), one per account."""
        if self.model == "sbg":
            now = betaln(self.alpha, self.beta + renewals)
            return np.exp(betaln(self.alpha, self.beta + renewals + ahead) - now)
        return np.full(renewals.shape, (1.0 - self.churn) ** ahead)

    def describe(self) -> str:
        """One phrase for readings and docs: the model and its first-year churn."""
        if self.model == "sbg":
            return f"sBG (alpha {self.alpha:.3g}, beta {self.beta:.3g})"
        if self.model == "geometric":
            return f"geometric churn {self.churn:.1%} a year (sBG did not converge)"
        return "no contract customers: no churn measured"


def size_band(employees: pd.Series) -> pd.Series:
    """The employee-size band of each account (null when the count is unknown)."""
    bands = pd.cut(
        employees.astype("float64"), [*SIZE_BANDS, np.inf], right=False, labels=SIZE_LABELS
    )
    return bands.astype("string")


def retention_model(tables: dict[str, ir.Table], stamp: pd.Timestamp) -> Retention:
    """Fit sBG on the contracts as of ``stamp``; fall back to the pooled churn rate."""
    revenue = tables["revenue"]
    contracts = workspace_contracts(
        {**tables, "revenue": revenue.filter(revenue.at < timestamp(stamp))}
    )
    if contracts.empty:
        return Retention("none", 1.0, 1.0, 0.0)
    churned = float(contracts["churned"].sum())
    exposure = float(contracts["periods"].sum()) + churned
    pooled = churned / exposure if exposure > 0 else 0.0
    if churned > 0 and contracts["periods"].sum() > 0:
        fit = fit_sbg_contracts(contracts)
        if fit.converged:
            return Retention("sbg", fit.params["alpha"], fit.params["beta"], pooled)
    return Retention("geometric", 1.0, 1.0, pooled)


def _revenue_totals(tables: dict[str, ir.Table], stamp: pd.Timestamp) -> ir.Table:
    """Per account: billed revenue to date, purchases of the last year, renewals so far."""
    revenue = tables["revenue"]
    revenue = revenue.filter(revenue.at < timestamp(stamp))
    billed = revenue.kind.isin(BILLED_KINDS) & (revenue.amount > 0)
    recent = revenue.at >= timestamp(stamp - YEAR)
    return revenue.group_by(account_id=revenue.account_id.cast("string")).agg(
        realised_value=revenue.amount.cast("float64").sum(where=billed),
        purchases_12m=revenue.amount.cast("float64").sum(
            where=billed & recent & (revenue.kind == "purchase")
        ),
        renewals=(revenue.kind == "renewal").sum(),
    )


def _ledger_totals(
    tables: dict[str, ir.Table], schema: dict[str, Table], plan: Plan, stamp: pd.Timestamp
) -> ir.Table:
    """Per customer from the lifecycle ledger: ARR, active or not, ARR contracted last year."""
    book = ledger(tables, schema, plan, (), "year", stamp)
    changes = book.changes
    recent = changes.at >= timestamp(stamp - YEAR)
    return changes.group_by(account_id=changes.account_id.cast("string")).agg(
        arr=changes.arr.sum(),
        active=changes.status.sum() > 0,
        contracted_12m=changes.contraction.sum(where=recent),
    )


def account_values(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    horizon_years: int = 3,
    as_of: AsOf = None,
) -> tuple[pd.DataFrame, Retention]:
    """Return one row per account with its status, realised, predicted and lifetime value."""
    stamp = lifecycle_as_of(tables, as_of)
    accounts = tables["accounts"]
    described = accounts.select(
        account_id=accounts.account_id.cast("string"),
        name=accounts.name,
        market=accounts.market,
        segment=accounts.segment,
        industry=accounts.industry,
        employees=accounts.employees,
    )
    joined = described.left_join(_revenue_totals(tables, stamp), "account_id").drop(
        "account_id_right"
    )
    joined = joined.left_join(_ledger_totals(tables, schema, plan, stamp), "account_id").drop(
        "account_id_right"
    )
    frame = joined.to_pandas().sort_values("account_id", kind="stable").reset_index(drop=True)
    retention = retention_model(tables, stamp)
    return _valued(frame, retention, horizon_years), retention


def _valued(frame: pd.DataFrame, retention: Retention, horizon_years: int) -> pd.DataFrame:
    """Add status, run rate, renewal probability and the predicted and lifetime values."""
    won = frame["active"].notna()
    active = frame["active"].fillna(False).astype(bool)
    frame["status"] = np.where(active, "customer", np.where(won, "churned", "prospect"))
    for column in ("realised_value", "purchases_12m", "arr", "contracted_12m"):
        frame[column] = frame[column].astype("float64").fillna(0.0)
    frame["renewals"] = frame["renewals"].fillna(0).astype("int64")
    frame["arr"] = frame["arr"].where(active, 0.0)
    frame["run_rate"] = (frame["arr"] + frame["purchases_12m"]).where(active, 0.0)
    renewals = frame["renewals"].to_numpy(dtype=np.float64)
    factor = sum(
        retention.survival(renewals, k) / (1.0 + DISCOUNT_RATE) ** k
        for k in range(1, horizon_years + 1)
    )
    frame["renewal_probability"] = pd.Series(
        retention.survival(renewals, 1), index=frame.index
    ).where(active)
    frame["predicted_value"] = frame["run_rate"] * factor
    frame["lifetime_value"] = frame["realised_value"] + frame["predicted_value"]
    frame["size_band"] = size_band(frame["employees"])
    return frame.drop(columns=["active"])

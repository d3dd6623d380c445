"""The customer lifecycle after the sale: cohort retention, NRR and GRR, churn, expansion, advocacy.

Definitions (also in docs/lifecycle.md), all read from the ``revenue`` table with the
canonical sign convention (``new``, ``expansion``, ``renewal``, ``purchase`` positive;
``contraction`` and ``churn`` negative, minus the annual contract value given up):

* A **customer** is an account with a ``new`` revenue row of positive amount; its **first win**
  is the earliest such row, and its **acquisition cohort** the calendar period (``period``:
  month, quarter or year) containing it. The revenue table, not the opportunities, decides:
  ARR and churn come from it, so customers and their revenue share one source (a won
  ``new`` opportunity at an existing customer is expansion revenue, not a second customer).
* **ARR** of an account at an instant t: the sum of its ``new``, ``expansion``,
  ``contraction`` and ``churn`` amounts from its first win up to (not including) t. Renewal
  rows restate the contract value at each anniversary (already counted) and purchase rows
  are orders, so neither changes ARR.
* A customer is **active** from its first win until a ``churn`` row; a later positive ``new``
  row wins it back (active again). Logo churn counts these active-to-churned changes.
* Everything is measured **as of** ``as_of`` (rows before it): by default the midnight after
  the latest revenue row. A date means its midnight UTC.
* :func:`retention`: per cohort and **age** k (0 = the acquisition period), measured at the end
  of the period k periods after the cohort's (``as_of`` for the period containing it, so the
  last age of each cohort may be partial). ``customers`` = the cohort's customers;
  ``retained_logos`` = those active then; ``logo_retention`` = retained ÷ customers; ``arr``
  = the cohort's ARR then; ``arr_start`` = its ARR at age 0; ``revenue_retention`` = arr ÷
  arr_start (null when arr_start is not positive). Cohorts without customers have no rows.
* :func:`net_revenue_retention`: for each period, over the **trailing twelve months** ending
  at the period's end (``measured_at``; ``as_of`` for the period containing it), the
  customers active at the window's start (``customers``) with their ARR then (``arr_start``),
  and their ``expansion``, ``contraction`` and ``churned`` ARR in the window (positive
  numbers). ``arr_end`` = arr_start + expansion - contraction - churned; ``nrr`` = arr_end ÷
  arr_start; ``grr`` = Σ per customer of max(start ARR - contraction - churned, 0) ÷
  arr_start (expansion never offsets a loss; a customer whose churned contract had grown in
  the window loses its start ARR, not more); ``churned_logos`` = start customers that churned
  in the window, ``logo_churn_rate`` = churned_logos ÷ customers, ``revenue_churn_rate`` =
  churned ÷ arr_start; ``expanded_logos`` = start customers with a positive expansion row in
  the window, ``logo_expansion_rate`` = expanded_logos ÷ customers, ``revenue_expansion_rate``
  = expansion ÷ arr_start. Revenue from customers acquired (or won back) in the window is new
  business, not NRR. Periods run from the first whose window starts after the first win to
  the one containing ``as_of``; groups without start customers in a period get zeros.
* :func:`expansion`: per cohort, ``expanded`` = customers with a positive ``expansion`` row
  before ``as_of``, ``expansion_rate`` = expanded ÷ customers; median and p90 of the days from
  the first win to the first expansion row (over expanded customers, linear interpolation);
  ``advocates`` = customers that entered the plan's advocate stage before ``as_of`` (the stage
  ``advocate``, else the last account stage of the main path after the customer stage),
  ``advocate_share`` = advocates ÷ customers (null without an advocate stage). Recent cohorts
  have had less time to expand: compare cohorts of the same age.
* ``by``: columns of the customer's account (``market``, ``segment``, ``accounts.<column>``);
  an account without a value forms the null group.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from missionline.data.schema import Table
from missionline.metrics.pipeline import AsOf, calendar_periods, timestamp
from missionline.metrics.portable import count_true, seconds_between
from missionline.metrics.retention_ledger import (
    Ledger,
    advocate_stage,
    index_start,
    ledger,
    period_index,
    stamp_index,
)
from missionline.plan.models import Plan

RETENTION_COLUMNS = [
    "cohort",
    "age",
    "customers",
    "retained_logos",
    "logo_retention",
    "arr_start",
    "arr",
    "revenue_retention",
]
NRR_COLUMNS = [
    "period",
    "measured_at",
    "customers",
    "arr_start",
    "expansion",
    "contraction",
    "churned",
    "arr_end",
    "nrr",
    "grr",
    "churned_logos",
    "logo_churn_rate",
    "revenue_churn_rate",
    "expanded_logos",
    "logo_expansion_rate",
    "revenue_expansion_rate",
]
EXPANSION_COLUMNS = [
    "cohort",
    "customers",
    "expanded",
    "expansion_rate",
    "median_days_to_first_expansion",
    "p90_days_to_first_expansion",
    "advocates",
    "advocate_share",
]
SECONDS_PER_DAY = 86400.0
TRAILING = pd.DateOffset(months=12)


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator ÷ denominator as float, null where the denominator is not positive."""
    return (numerator / denominator.where(denominator > 0)).astype("float64")


def _aggregate(table: ir.Table, keys: list[str], **metrics: ir.Value) -> pd.DataFrame:
    """Group ``table`` by ``keys`` (or not at all) and execute the aggregate."""
    expr = table.group_by(keys).agg(**metrics) if keys else table.aggregate(**metrics)
    return expr.to_pandas()


def _order(frame: pd.DataFrame, keys: list[str], columns: list[str]) -> pd.DataFrame:
    """Sort by ``keys`` (nulls as text, so they sort too) and select the output columns."""
    if keys and len(frame):
        frame = frame.sort_values(keys, key=lambda s: s.astype(str), kind="stable")
    return frame[columns].reset_index(drop=True)


def _cohort_dates(frame: pd.DataFrame, period: str) -> pd.Series:
    """The first day of each row's cohort period, from ``cohort_index``."""
    return frame["cohort_index"].map(lambda i: index_start(int(i), period)).astype(object)


def retention(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    by: Sequence[str] = (),
    period: str | None = "quarter",
    as_of: AsOf = None,
) -> pd.DataFrame:
    """Return logo and revenue retention per acquisition cohort and age (in periods)."""
    book = ledger(tables, schema, plan, by, period, as_of)
    changes = book.changes
    age = period_index(changes.at, book.period) - changes.cohort_index
    first = (changes.status == 1) & (changes.at == changes.first_at)  # one row per customer
    moves = _aggregate(
        changes.mutate(age=age),
        [*book.group, "cohort_index", "age"],
        _arr=changes.arr.sum(),
        _status=changes.status.sum(),
        _customers=count_true(first),
    )
    return _shape_retention(moves, book)


def _shape_retention(moves: pd.DataFrame, book: Ledger) -> pd.DataFrame:
    """Expand each cohort to every age up to ``as_of`` and accumulate the changes."""
    keys = [*book.group, "cohort_index"]
    sizes = moves.groupby(keys, dropna=False, as_index=False).agg(customers=("_customers", "sum"))
    last = stamp_index(book.as_of - pd.Timedelta(microseconds=1), book.period)
    ages = (last - sizes["cohort_index"]).clip(lower=-1).astype("int64") + 1
    grid = sizes.loc[sizes.index.repeat(ages)].reset_index(drop=True)
    grid["age"] = grid.groupby(keys, dropna=False).cumcount().astype("int64")
    moves["age"] = moves["age"].astype("int64")
    out = grid.merge(moves, on=[*keys, "age"], how="left")
    out = out.sort_values([*keys, "age"], kind="stable").reset_index(drop=True)
    by_cohort = [out[k] for k in keys]
    out["customers"] = out["customers"].astype("int64")
    status = out["_status"].fillna(0).astype("int64")
    out["retained_logos"] = status.groupby(by_cohort, dropna=False).cumsum()
    arr = out["_arr"].astype("float64").fillna(0.0)
    out["arr"] = arr.groupby(by_cohort, dropna=False).cumsum()
    out["arr_start"] = out["arr"].groupby(by_cohort, dropna=False).transform("first")
    out["logo_retention"] = _ratio(out["retained_logos"], out["customers"])
    out["revenue_retention"] = _ratio(out["arr"], out["arr_start"])
    out["cohort"] = _cohort_dates(out, book.period)
    return _order(out, [*book.group, "cohort", "age"], [*book.group, *RETENTION_COLUMNS])


def _windows(book: Ledger) -> pd.DataFrame:
    """``(period, measured_at, _start)``: each period's trailing-twelve-month window."""
    first = book.customers.first_at.min().execute()
    if first is None or pd.isna(first):
        return pd.DataFrame(columns=["period", "measured_at", "_start"])
    spans = calendar_periods(
        pd.Timestamp(first), book.as_of - pd.Timedelta(microseconds=1), book.period
    )
    ends = [min(end, book.as_of) for _, end in spans]
    frame = pd.DataFrame(
        {
            "period": pd.Series([start for start, _ in spans], dtype=object),
            "measured_at": pd.Series(ends, dtype="datetime64[us]"),
            "_start": pd.Series([end - TRAILING for end in ends], dtype="datetime64[us]"),
        }
    )
    # A window starting at or before the first win has no customer at its start.
    return frame[frame["_start"] > pd.Timestamp(first)].reset_index(drop=True)


def net_revenue_retention(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    by: Sequence[str] = (),
    period: str | None = "quarter",
    as_of: AsOf = None,
) -> pd.DataFrame:
    """Return trailing-twelve-month NRR, GRR, churn and expansion rates at each period end."""
    book = ledger(tables, schema, plan, by, period, as_of)
    windows = _windows(book)
    keys = [*book.group, "period"]
    if windows.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in [*book.group, *NRR_COLUMNS]})
    spans = ibis.memtable(windows.drop(columns="period").assign(_w=range(len(windows))))
    rows = book.changes.join(spans, book.changes.at < spans.measured_at)
    before = rows.at < rows._start
    inside = ~before
    per = rows.group_by(["account_id", *book.group, "_w"]).agg(
        _active=rows.status.sum(where=before),
        arr_start=rows.arr.sum(where=before),
        expansion=rows.expansion.sum(where=inside),
        contraction=rows.contraction.sum(where=inside),
        churned=rows.churned.sum(where=inside),
        _expanded=rows.expanded.sum(where=inside),
        _churns=count_true((rows.status < 0) & inside),
    )
    per = per.filter(per._active == 1)
    per = per.mutate(
        **{c: per[c].fill_null(0.0) for c in ("arr_start", "expansion", "contraction", "churned")}
    )
    # A customer loses at most its start ARR (a churned contract may include expansion).
    kept = ibis.greatest(per.arr_start - per.contraction - per.churned, ibis.literal(0.0))
    raw = _aggregate(
        per,
        [*book.group, "_w"],
        customers=per.count(),
        arr_start=per.arr_start.sum(),
        expansion=per.expansion.sum(),
        contraction=per.contraction.sum(),
        churned=per.churned.sum(),
        _kept=kept.sum(),
        churned_logos=count_true(per._churns.fill_null(0) > 0),
        expanded_logos=count_true(per._expanded.fill_null(0) > 0),
    )
    return _shape_nrr(raw, windows.assign(_w=range(len(windows))), book.group, keys)


def _shape_nrr(
    raw: pd.DataFrame, windows: pd.DataFrame, group: list[str], keys: list[str]
) -> pd.DataFrame:
    """Give every group every window (zeros where it had no start customer); derive ratios."""
    combos = raw[group].drop_duplicates() if group else pd.DataFrame(index=[0])
    grid = combos.merge(windows[["_w", "period", "measured_at"]], how="cross")
    out = grid.merge(raw, on=[*group, "_w"], how="left")
    for column in ("customers", "churned_logos", "expanded_logos"):
        out[column] = out[column].fillna(0).astype("int64")
    for column in ("arr_start", "expansion", "contraction", "churned", "_kept"):
        out[column] = out[column].astype("float64").fillna(0.0)
    out["arr_end"] = out["arr_start"] + out["expansion"] - out["contraction"] - out["churned"]
    out["nrr"] = _ratio(out["arr_end"], out["arr_start"])
    out["grr"] = _ratio(out["_kept"], out["arr_start"])
    out["logo_churn_rate"] = _ratio(out["churned_logos"], out["customers"])
    out["revenue_churn_rate"] = _ratio(out["churned"], out["arr_start"])
    out["logo_expansion_rate"] = _ratio(out["expanded_logos"], out["customers"])
    out["revenue_expansion_rate"] = _ratio(out["expansion"], out["arr_start"])
    return _order(out, keys, [*group, *NRR_COLUMNS])


def expansion(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    by: Sequence[str] = (),
    period: str | None = "quarter",
    as_of: AsOf = None,
) -> pd.DataFrame:
    """Return per cohort the share of customers that expanded, how fast, and advocate share."""
    book = ledger(tables, schema, plan, by, period, as_of)
    changes = book.changes
    grown = changes.filter(changes.expanded > 0)
    grown = grown.group_by(_gid=grown.account_id).agg(_expanded_at=grown.at.min())
    rows = book.customers.left_join(grown, book.customers.account_id == grown._gid).drop("_gid")
    stage = advocate_stage(plan)
    if stage is not None:
        events = tables["stage_events"]
        events = events.filter(
            (events.record_type == "account")
            & (events.stage == stage)
            & (events.entered_at < timestamp(book.as_of))
        )
        advocates = events.select(_aid=events.record_id).distinct()
        rows = rows.left_join(advocates, rows.account_id == advocates._aid)
    else:
        rows = rows.mutate(_aid=ibis.null("string"))
    days = seconds_between(rows.first_at, rows._expanded_at) / SECONDS_PER_DAY
    keys = [*book.group, "cohort_index"]
    raw = _aggregate(
        rows,
        keys,
        customers=rows.count(),
        expanded=count_true(rows._expanded_at.notnull()),
        median_days_to_first_expansion=days.quantile(0.5),
        p90_days_to_first_expansion=days.quantile(0.9),
        advocates=count_true(rows._aid.notnull()),
    )
    for column in ("customers", "expanded", "advocates"):
        raw[column] = raw[column].astype("int64")
    for column in ("median_days_to_first_expansion", "p90_days_to_first_expansion"):
        raw[column] = raw[column].astype("float64")
    raw["expansion_rate"] = _ratio(raw["expanded"], raw["customers"])
    share = _ratio(raw["advocates"], raw["customers"])
    raw["advocate_share"] = share if stage is not None else np.nan
    raw["cohort"] = _cohort_dates(raw, book.period)
    return _order(raw, [*book.group, "cohort"], [*book.group, *EXPANSION_COLUMNS])

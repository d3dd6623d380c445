"""Customer summaries (frequency, recency, T, monetary value) aggregated in the engine.

Conventions (the usual ones of the CLV literature, documented in docs/clv.md):

* A **purchase** is a customer's purchase day: several transactions on the same day count as
  one purchase, with their amounts added.
* Only days on or before ``calibration_end`` are in the calibration period; a customer whose
  first purchase is later is not in the summary.
* ``frequency`` = purchase days - 1 (repeat purchases); ``recency`` = last - first purchase
  day; ``T`` = calibration end - first purchase day; both in the time unit (``W`` weeks of 7
  days, or ``D`` days).
* ``monetary_value`` = the mean amount of the repeat purchase days (the first is left out);
  null without repeat purchases or without amounts.
* With ``holdout_end``: ``holdout_frequency`` = purchase days after the calibration end up to
  and including ``holdout_end``; ``holdout_duration`` = holdout_end - calibration_end.
* In the workspace, purchases are ``revenue`` rows with a positive amount and a kind of
  ``new``, ``expansion``, ``renewal`` or ``purchase``, per ``account_id``.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from missionline.errors import MissionlineError, Problem

TimeUnit = Literal["W", "D"]
DAYS_PER_UNIT: dict[str, float] = {"W": 7.0, "D": 1.0}
PURCHASE_KINDS = ("new", "expansion", "renewal", "purchase")
DateLike = str | dt.date | pd.Timestamp


def days_per_unit(time_unit: str) -> float:
    """Return the days in one time unit (``W`` or ``D``), or raise a clear error."""
    if time_unit not in DAYS_PER_UNIT:
        raise MissionlineError(f"unknown time unit {time_unit!r}; use W (weeks) or D (days)")
    return DAYS_PER_UNIT[time_unit]


def parse_dates(values: pd.Series, source: str | None = None, column: str = "date") -> pd.Series:
    """Parse dates (ISO 8601 such as 2024-03-31 or 2024-03-31T10:00, YYYYMMDD, YYYY/MM/DD).

    Times with a zone are converted to UTC; the result is naive UTC. Every value that is not a
    date is reported with its row (the file's line when ``source`` names a file).
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values, utc=True)
    else:
        text = values.astype("string").str.strip().str.replace("/", "-", regex=False)
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    bad = parsed.isna()
    if bad.any():
        problems = [
            Problem(
                f"{values[label]!r} is not a date; write YYYY-MM-DD or YYYYMMDD",
                source,
                int(label) if source else None,
                column,
            )
            for label in values.index[bad.to_numpy()][:50]
        ]
        raise MissionlineError(f"{source or 'transactions'}: invalid dates", problems)
    return parsed.dt.tz_localize(None)


def to_date(value: DateLike, what: str) -> dt.date:
    """Return ``value`` as a date, or raise an error naming the option ``what``."""
    try:
        stamp = parse_dates(pd.Series([value], dtype=object)).iloc[0]
    except MissionlineError:
        raise MissionlineError(
            f"invalid {what} {value!r}; write a date such as 2024-03-31 or 20240331"
        ) from None
    return pd.Timestamp(stamp).date()


def _summary_expr(
    purchases: ir.Table, calibration_end: dt.date, holdout_end: dt.date | None
) -> ir.Table:
    """Per customer: purchase days, first and last day, repeat amount and holdout purchases.

    ``purchases`` has ``customer_id``, ``day`` (a date) and ``amount``.
    """
    daily = purchases.group_by(["customer_id", "day"]).agg(amount=purchases.amount.sum())
    calibration = daily.filter(daily.day <= calibration_end)
    ranked = calibration.mutate(
        order=ibis.row_number().over(group_by=calibration.customer_id, order_by=calibration.day)
    )
    per = ranked.group_by("customer_id").agg(
        purchases=ranked.count(),
        first_day=ranked.day.min(),
        repeat_amount=(ranked.order > 0).ifelse(ranked.amount, 0.0).sum(),
        recency_days=ranked.day.max().delta(ranked.day.min(), unit="day"),
        t_days=ibis.literal(calibration_end).delta(ranked.day.min(), unit="day"),
    )
    if holdout_end is None:
        return per
    later = daily.filter((daily.day > calibration_end) & (daily.day <= holdout_end))
    counts = later.group_by("customer_id").agg(holdout_purchases=later.count())
    joined = per.left_join(counts, "customer_id")
    return joined.mutate(holdout_purchases=joined.holdout_purchases.fill_null(0)).drop(
        "customer_id_right"
    )


def _finish(
    raw: pd.DataFrame,
    time_unit: str,
    has_amount: bool,
    calibration_end: dt.date,
    holdout_end: dt.date | None,
) -> pd.DataFrame:
    """Turn the engine's per-customer counts and days into the summary in the time unit."""
    unit = days_per_unit(time_unit)
    raw = raw.sort_values("customer_id", kind="stable").reset_index(drop=True)
    frequency = raw["purchases"].to_numpy(dtype=np.float64) - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        monetary = raw["repeat_amount"].to_numpy(dtype=np.float64) / frequency
    out = pd.DataFrame(
        {
            "customer_id": raw["customer_id"].astype(str),
            "frequency": frequency,
            "recency": raw["recency_days"].to_numpy(dtype=np.float64) / unit,
            "T": raw["t_days"].to_numpy(dtype=np.float64) / unit,
            "monetary_value": np.where((frequency > 0) & has_amount, monetary, np.nan),
        }
    )
    if holdout_end is not None:
        out["holdout_frequency"] = raw["holdout_purchases"].to_numpy(dtype=np.float64)
        out["holdout_duration"] = (holdout_end - calibration_end).days / unit
    return out


def _check_holdout(calibration_end: dt.date, holdout_end: dt.date | None) -> None:
    """Refuse a holdout end that is not after the calibration end."""
    if holdout_end is not None and holdout_end <= calibration_end:
        raise MissionlineError(
            f"the holdout end {holdout_end} must be after the calibration end {calibration_end}"
        )


def summarise_transactions(
    frame: pd.DataFrame,
    customer: str,
    date: str,
    amount: str | None = None,
    calibration_end: DateLike | None = None,
    time_unit: str = "W",
    holdout_end: DateLike | None = None,
    source: str | None = None,
) -> pd.DataFrame:
    """Summarise a transaction log (one row per transaction) per customer.

    ``source`` names the file the frame was read from (its index holding the file's lines), so
    that errors point at them. Amounts must be numbers >= 0.
    """
    days_per_unit(time_unit)
    where = source or "transactions"
    missing = [c for c in (customer, date, amount) if c is not None and c not in frame.columns]
    if missing:
        raise MissionlineError(
            f"{where}: missing column {', '.join(missing)}; the columns are "
            f"{', '.join(map(str, frame.columns))}"
        )
    if calibration_end is None:
        raise MissionlineError("a transaction log needs a calibration end date")
    end = to_date(calibration_end, "calibration end")
    holdout = to_date(holdout_end, "holdout end") if holdout_end is not None else None
    _check_holdout(end, holdout)
    ids = frame[customer]
    if ids.isna().any():
        label = frame.index[ids.isna().to_numpy()][0]
        raise MissionlineError(
            f"{where}: a transaction without a customer",
            [Problem("missing customer id", source, int(label) if source else None, customer)],
        )
    days = parse_dates(frame[date], source, date).dt.normalize()
    values = _amounts(frame, amount, source)
    purchases = pd.DataFrame({"customer_id": ids.astype(str), "day": days, "amount": values})
    table = ibis.memtable(purchases)
    con = ibis.duckdb.connect()
    try:
        raw = con.execute(_summary_expr(table.mutate(day=table.day.date()), end, holdout))
    finally:
        con.disconnect()
    if raw.empty:
        raise MissionlineError(f"{where}: no customer bought on or before {end}")
    return _finish(raw, time_unit, amount is not None, end, holdout)


def _amounts(frame: pd.DataFrame, amount: str | None, source: str | None) -> pd.Series:
    """Return the amount column as numbers >= 0 (zeros without one), naming bad cells."""
    if amount is None:
        return pd.Series(0.0, index=frame.index)
    raw = frame[amount]
    values = pd.to_numeric(raw, errors="coerce").astype(np.float64)
    bad = values.isna() | (values < 0) | np.isinf(values)
    if bad.any():
        problems = [
            Problem(
                f"{raw[label]!r} is not an amount; expected a number >= 0",
                source,
                int(label) if source else None,
                amount,
            )
            for label in frame.index[bad.to_numpy()][:50]
        ]
        raise MissionlineError(f"{source or 'transactions'}: invalid amounts", problems)
    return values


def workspace_purchases(tables: dict[str, ir.Table]) -> ir.Table:
    """The workspace's purchases: positive revenue rows of a purchase kind, per account."""
    revenue = tables["revenue"]
    rows = revenue.filter(revenue.kind.isin(PURCHASE_KINDS) & (revenue.amount > 0))
    return rows.select(
        customer_id=rows.account_id.cast("string"), day=rows.at.date(), amount=rows.amount
    )


def workspace_summary(
    tables: dict[str, ir.Table],
    calibration_end: DateLike | None = None,
    time_unit: str = "W",
    holdout_end: DateLike | None = None,
) -> pd.DataFrame:
    """Summarise the workspace's revenue per account (default calibration end: the last day)."""
    days_per_unit(time_unit)
    purchases = workspace_purchases(tables)
    if calibration_end is None:
        if holdout_end is not None:
            raise MissionlineError("a holdout end needs a calibration end before it")
        last = purchases.day.max().execute()
        if last is None or pd.isna(last):
            raise MissionlineError(
                "the workspace has no purchases: revenue rows with a positive amount and a "
                f"kind of {', '.join(PURCHASE_KINDS)}"
            )
        end = pd.Timestamp(last).date()
    else:
        end = to_date(calibration_end, "calibration end")
    holdout = to_date(holdout_end, "holdout end") if holdout_end is not None else None
    _check_holdout(end, holdout)
    raw = _summary_expr(purchases, end, holdout).execute()
    if raw.empty:
        raise MissionlineError(f"no account bought on or before {end}")
    return _finish(raw, time_unit, True, end, holdout)


def workspace_contracts(tables: dict[str, ir.Table]) -> pd.DataFrame:
    """Per account with a ``new`` revenue row: renewals so far and whether it churned.

    ``periods`` counts the account's ``renewal`` rows (contract periods renewed); ``churned``
    is true when it has a ``churn`` row. The sBG model reads them as one contract period per
    renewal (a year in the demo company).
    """
    revenue = tables["revenue"]
    per = revenue.group_by(customer_id=revenue.account_id.cast("string")).agg(
        new=(revenue.kind == "new").sum(),
        periods=(revenue.kind == "renewal").sum(),
        churns=(revenue.kind == "churn").sum(),
    )
    raw = per.filter(per.new > 0).execute().sort_values("customer_id", kind="stable")
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"].astype(str),
            "periods": raw["periods"].astype(int),
            "churned": raw["churns"].to_numpy() > 0,
        }
    ).reset_index(drop=True)

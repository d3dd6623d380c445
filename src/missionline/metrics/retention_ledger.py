"""The customer ledger behind the lifecycle metrics: who is a customer, and ARR over time.

Built from the ``revenue`` table only (the definitions are in :mod:`.lifecycle`):

* :func:`ledger` returns one row per account and instant at which the account's annual
  recurring revenue (ARR) or its customer status changes, from its first win until ``as_of``,
  with the account's first win, acquisition cohort and ``--by`` dimensions;
* :func:`customers` returns one row per customer.

Both are Ibis expressions: the engine does the work, the metrics aggregate them further.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from missionline.data.schema import Table
from missionline.errors import MissionlineError
from missionline.metrics.pipeline import MONTHS, AsOf, resolve_as_of, timestamp
from missionline.metrics.portable import indicator
from missionline.metrics.records import Dimension, Records, resolve_dimension
from missionline.plan.models import Plan

# Revenue kinds that change ARR; renewals restate the contract value and purchases are orders.
ARR_KINDS = ("new", "expansion", "contraction", "churn")
LIFECYCLE_PERIODS = ("month", "quarter", "year")


@dataclass(frozen=True)
class Ledger:
    """The customers and their ARR and status changes, as Ibis expressions."""

    customers: ir.Table  # account_id, first_at, cohort_index, dimensions
    changes: ir.Table  # customers' columns plus at, arr, the NRR components and status
    group: list[str]  # the dimension column names
    as_of: pd.Timestamp
    period: str


def check_lifecycle_period(period: str | None) -> str:
    """Return ``period`` if it is month, quarter or year, else raise a clear error."""
    if period not in LIFECYCLE_PERIODS:
        raise MissionlineError(
            f"unknown period {period!r} for lifecycle metrics; use one of "
            f"{', '.join(LIFECYCLE_PERIODS)}"
        )
    return period


def lifecycle_dimensions(
    by: Sequence[str], schema: dict[str, Table], plan: Plan
) -> list[Dimension]:
    """Resolve ``--by`` names; lifecycle metrics describe accounts, so only account columns."""
    dims = [resolve_dimension(name, schema, plan) for name in by]
    for name, dim in zip(by, dims, strict=True):
        if dim.table != "accounts":
            raise MissionlineError(
                f"--by {name} describes {dim.table}, not accounts; lifecycle metrics group "
                "customers by market, segment or another accounts column (accounts.<column>)"
            )
    return dims


def lifecycle_as_of(tables: dict[str, ir.Table], as_of: AsOf = None) -> pd.Timestamp:
    """The measurement instant: ``as_of``, else the midnight after the latest revenue row."""
    if as_of is not None:
        return resolve_as_of(tables, as_of)
    latest = tables["revenue"].at.max().execute()
    if latest is None or pd.isna(latest):  # no revenue: the end of the other data
        return resolve_as_of(tables)
    return pd.Timestamp(latest).normalize() + pd.Timedelta(days=1)


def period_index(ts: ir.TimestampValue, period: str) -> ir.IntegerValue:
    """Number the calendar period containing ``ts`` (consecutive periods differ by one)."""
    return (ts.year() * 12 + ts.month() - 1) // MONTHS[period]


def stamp_index(stamp: pd.Timestamp, period: str) -> int:
    """The :func:`period_index` of a pandas timestamp."""
    return int((stamp.year * 12 + stamp.month - 1) // MONTHS[period])


def index_start(index: int, period: str) -> dt.date:
    """The first day of the period numbered ``index``."""
    months = index * MONTHS[period]
    return dt.date(months // 12, months % 12 + 1, 1)


def advocate_stage(plan: Plan) -> str | None:
    """The advocate stage: ``advocate`` if the plan has it, else the last later account stage.

    "Later" means the main path has an earlier account stage (the customer stage), so a plan
    whose only account stage is ``customer`` has no advocate stage.
    """
    path = plan.lifecycle.path()
    if any(s.id == "advocate" for s in path):
        return "advocate"
    accounts = [s.id for s in path if s.record_type == "account"]
    return accounts[-1] if len(accounts) > 1 else None


def _status_changes(revenue: ir.Table) -> ir.Table:
    """``(account_id, at, status)``: +1 when an account becomes a customer, -1 when it churns.

    A positive ``new`` row makes the account a customer (its first win, or a win-back after a
    churn); a ``churn`` row ends it. Rows that change nothing (a churn of a non-customer, a
    second ``new`` while a customer) give no row; at one instant a ``new`` row wins.
    """
    won = (revenue.kind == "new") & (revenue.amount > 0)
    events = revenue.filter(won | (revenue.kind == "churn"))
    events = events.group_by(["account_id", "at"]).agg(
        _active=(events.kind == "new").any()  # only positive new rows passed the filter
    )
    window = ibis.window(group_by=events.account_id, order_by=events.at)
    before = events._active.lag().over(window).fill_null(False)
    events = events.mutate(
        status=indicator(events._active) - indicator(before),
    )
    return events.filter(events.status != 0).select("account_id", "at", "status")


def _money_changes(revenue: ir.Table) -> ir.Table:
    """One row per ARR-changing revenue row, split into the NRR components (positive numbers)."""
    rows = revenue.filter(revenue.kind.isin(ARR_KINDS))
    zero = ibis.literal(0.0, type="float64")
    amount = rows.amount.cast("float64")
    return rows.select(
        "account_id",
        "at",
        arr=amount,
        expansion=ibis.ifelse(rows.kind == "expansion", amount, zero),
        contraction=ibis.ifelse(rows.kind == "contraction", -amount, zero),
        churned=ibis.ifelse(rows.kind == "churn", -amount, zero),
        expanded=indicator((rows.kind == "expansion") & (rows.amount > 0)),
        status=ibis.literal(0, type="int64"),
    )


def ledger(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    by: Sequence[str],
    period: str | None,
    as_of: AsOf,
) -> Ledger:
    """Build the customers and their ARR and status changes before ``as_of``."""
    period = check_lifecycle_period(period)
    dims = lifecycle_dimensions(by, schema, plan)
    stamp = lifecycle_as_of(tables, as_of)
    revenue = tables["revenue"]
    revenue = revenue.filter(revenue.at < timestamp(stamp))
    status = _status_changes(revenue)
    firsts = status.filter(status.status == 1).group_by("account_id").agg(first_at=status.at.min())
    firsts = firsts.mutate(cohort_index=period_index(firsts.first_at, period))
    described = Records(tables).attach(firsts.rename(record_id="account_id"), "account", dims)
    customers = described.rename(account_id="record_id")
    zero = ibis.literal(0.0, type="float64")
    status_rows = status.select(
        "account_id",
        "at",
        arr=zero,
        expansion=zero,
        contraction=zero,
        churned=zero,
        expanded=ibis.literal(0, type="int64"),
        status="status",
    )
    changes = ibis.union(_money_changes(revenue), status_rows)
    joined = changes.join(customers, "account_id")
    # Rows before the first win belong to no customer: the account was not one yet.
    joined = joined.filter(joined.at >= joined.first_at)
    group = [d.name for d in dims]
    return Ledger(customers, joined, group, stamp, period)

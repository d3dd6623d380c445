"""The pipeline: win rate, deal size, sales cycle, open and weighted pipeline, velocity, coverage.

Definitions (the choices PRODUCT.md leaves open):

* Everything is measured **as of** an instant ``as_of``: by default the midnight after the
  latest opportunity creation, close or stage entry (the end of the data). A date given as
  ``as_of`` means its midnight UTC. Only opportunities created before ``as_of`` count.
* A deal is **closed** when its status is ``won`` or ``lost`` and its ``closed_at`` is before
  ``as_of``. A won or lost deal without ``closed_at`` is in no closed-deal metric (its close
  date is unknown) and is not open either.
* ``won``, ``lost``; ``win_rate`` = won ÷ (won + lost); ``average_deal_size`` and
  ``median_deal_size`` over the won amounts (null amounts skipped); ``median_cycle_days`` and
  ``average_cycle_days``: closed_at - created_at over won deals, in days. With ``period`` these
  are grouped by the period of ``closed_at``.
* A deal is **open at** an instant t when it was created before t and its status is ``open``
  or it closed at or after t: a snapshot rebuilt from the dates, so past snapshots are exact.
  ``open_count`` and ``open_amount`` are taken at ``as_of``; with ``period``, at the end of each
  period (``as_of`` for the period containing it), for every period from the first
  opportunity's to the one containing ``as_of``.
* ``pipeline_velocity_per_day`` = open_count * win_rate * average_deal_size ÷
  average_cycle_days: PRODUCT.md's formula, counting every open deal as qualified and taking the
  mean won cycle as the cycle length, all four from the same row (group and period). Null when
  a factor is missing or the cycle is not positive.
* :func:`stage_probabilities`: for each opportunity-type stage of the main path, of the closed
  deals that entered it (any entry before ``as_of``; skipped stages are not inferred), the
  share that was won. Company-wide, over the whole history up to ``as_of`` (also for the
  snapshots at earlier period ends).
* A deal's **current stage** at a snapshot is its latest main-path opportunity stage entered
  before the snapshot (a tie goes to the later stage of the path); a deal with none is at the
  first opportunity stage of the path. ``weighted_pipeline`` = Σ open amount * probability of
  the current stage; a stage without closed history contributes nothing.
* ``coverage`` = open pipeline ÷ remaining target. The target is the first success factor, else
  the first objective, whose plan metric measures ``won_amount``; the open pipeline counts only
  deals matching that metric's kind, segment and market; remaining = target - the metric's
  value from the start of the target's period containing ``as_of`` up to ``as_of``. Null when
  there is no such target or nothing remains. By group, a group's coverage is its open pipeline
  over the same company target, so the groups add up to the total; with ``period``, coverage
  is given only on the row whose snapshot is ``as_of`` (the last period).
* Dimensions (``by``) describe the opportunity: ``segment`` and ``market`` of its account,
  ``channel``, ``initiative`` and ``message`` of its person, ``kind`` or any opportunities
  column; ``owner`` and ``team`` are the opportunity's owner (``opportunities.owner_id``).
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from missionline.data.schema import Table
from missionline.metrics.batch import one_query
from missionline.metrics.periods import period_start
from missionline.metrics.pipeline_time import (
    FREQUENCIES,
    MONTHS,
    AsOf,
    calendar_periods,
    check_period,
    open_at,
    resolve_as_of,
    snapshots,
    timestamp,
)
from missionline.metrics.pipeline_weights import (
    Target,
    bookings_target,
    stage_probabilities,
    weighted,
)
from missionline.metrics.portable import count_true, labelled, quantile, seconds_between
from missionline.metrics.records import Records, resolve_dimension
from missionline.plan.models import Plan

# the names other modules import from here, kept importable after the split
__all__ = [
    "FREQUENCIES",
    "MONTHS",
    "AsOf",
    "Target",
    "bookings_target",
    "calendar_periods",
    "check_period",
    "open_at",
    "pipeline",
    "resolve_as_of",
    "stage_probabilities",
    "timestamp",
]
COLUMNS = [
    "won",
    "lost",
    "win_rate",
    "average_deal_size",
    "median_deal_size",
    "median_cycle_days",
    "average_cycle_days",
    "open_count",
    "open_amount",
    "weighted_pipeline",
    "pipeline_velocity_per_day",
    "coverage",
]
COUNTS = ["won", "lost", "open_count"]
SECONDS_PER_DAY = 86400.0


def _target_match(
    tables: dict[str, ir.Table], plan: Plan, rows: ir.Table, target: Target | None
) -> ir.BooleanValue:
    """True for deals the target's metric counts (its kind, segment and market filters)."""
    if target is None:
        return ibis.literal(False)
    metric = plan.metrics[target.metric]
    match = ibis.literal(True)
    if metric.kind is not None:
        match &= rows._kind == metric.kind
    if metric.segment is not None or metric.market is not None:
        accounts = tables["accounts"]
        if metric.segment is not None:
            accounts = accounts.filter(accounts.segment == metric.segment)
        if metric.market is not None:
            accounts = accounts.filter(accounts.market == metric.market)
        match &= rows._account.isin(accounts.account_id).fill_null(False)
    return match.fill_null(False)


def _open_aggregate(
    tables: dict[str, ir.Table],
    plan: Plan,
    rows: ir.Table,
    keys: list[str],
    snaps: pd.DataFrame | None,
    at: ir.TimestampScalar,
) -> ir.Table:
    """Open deals per group (and period end): count, amount, weighted and target-matching amount."""
    joined = rows.mutate(_snap=at) if snaps is None else rows.cross_join(ibis.memtable(snaps))
    opened = joined.filter(open_at(joined._created, joined._closed, joined._status, joined._snap))
    opened = weighted(tables, plan, opened, at)
    metrics = {
        "open_count": opened.count(),
        "open_amount": opened._amount.sum(),
        "weighted_pipeline": (opened._amount * opened._probability.fill_null(0.0)).sum(),
        "_target_open": opened._amount.sum(where=opened._target),
    }
    return opened.group_by(keys).agg(**metrics) if keys else opened.aggregate(**metrics)


def _closed_aggregate(
    rows: ir.Table, keys: list[str], period: str | None, at: ir.TimestampScalar
) -> ir.Table:
    """Closed deals per group (and close period): won, lost, deal size and cycle."""
    closed = rows.filter(
        rows._status.isin(["won", "lost"]) & rows._closed.notnull() & (rows._closed < at)
    )
    if period:
        closed = closed.mutate(period=period_start(closed._closed, period))
    won = closed._status == "won"
    days = seconds_between(closed._created, closed._closed) / SECONDS_PER_DAY
    metrics = {
        "won": count_true(won),
        "lost": count_true(~won),
        "average_deal_size": closed._amount.mean(where=won),
        "median_deal_size": quantile(closed._amount, 0.5, where=won),
        "median_cycle_days": quantile(days, 0.5, where=won),
        "average_cycle_days": days.mean(where=won),
    }
    return closed.group_by(keys).agg(**metrics) if keys else closed.aggregate(**metrics)


def pipeline(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    by: Sequence[str] = (),
    period: str | None = None,
    as_of: AsOf = None,
) -> pd.DataFrame:
    """Return win rate, deal size, cycle, open and weighted pipeline, velocity and coverage."""
    check_period(period)
    dims = [resolve_dimension(name, schema, plan) for name in by]
    group = [d.name for d in dims]
    keys = group + (["period"] if period else [])
    stamp = resolve_as_of(tables, as_of)
    at = timestamp(stamp)
    opps = tables["opportunities"]
    columns = {
        "record_id": opps.opportunity_id,
        "_created": opps.created_at,
        "_closed": opps.closed_at,
        "_amount": opps.amount,
        "_status": opps.status,
        "_kind": opps.kind,
        "_account": opps.account_id,
    }
    if any(d.table in ("stage_events", "owners") for d in dims):
        columns["owner_id"] = opps.owner_id  # the deal's owner stands for the entry's owner
    rows = Records(tables).attach(
        opps.filter(opps.created_at < at).select(**columns), "opportunity", dims
    )
    target = bookings_target(tables, plan, stamp)
    rows = rows.mutate(_target=_target_match(tables, plan, rows, target))
    snaps = snapshots(tables, period, stamp)
    closed, opened = one_query(
        [_closed_aggregate(rows, keys, period, at)],
        [_open_aggregate(tables, plan, rows, keys, snaps, at)],
    )
    return labelled(_shape(closed, opened, group, snaps, target), tables)


def _shape(
    closed: pd.DataFrame,
    opened: pd.DataFrame,
    group: list[str],
    snaps: pd.DataFrame | None,
    target: Target | None,
) -> pd.DataFrame:
    """Join closed and open aggregates, fill empty cells, derive the ratios, order the rows."""
    keys = group + (["period"] if snaps is not None else [])
    for frame in (closed, opened):
        if "period" in frame:
            frame["period"] = pd.to_datetime(frame["period"]).dt.date
    if keys:
        out = closed.merge(opened, on=keys, how="outer")
        if not group and snaps is not None:  # every period, even one without deals
            out = snaps[["period"]].merge(out, on="period", how="outer")
    else:
        out = pd.concat([closed, opened], axis=1)
    for column in COUNTS:
        out[column] = out[column].fillna(0).astype("int64")
    for column in ("open_amount", "weighted_pipeline", "_target_open"):
        out[column] = out[column].astype("float64").fillna(0.0)
    decided = out["won"] + out["lost"]
    out["win_rate"] = (out["won"] / decided.where(decided > 0)).astype("float64")
    cycle = out["average_cycle_days"].astype("float64")
    out["pipeline_velocity_per_day"] = (
        out["open_count"] * out["win_rate"] * out["average_deal_size"] / cycle.where(cycle > 0)
    ).astype("float64")
    coverage = pd.Series(float("nan"), index=out.index)
    if target is not None and target.remaining > 0:
        coverage = out["_target_open"] / target.remaining
        if snaps is not None and len(snaps):
            coverage = coverage.where(out["period"] == snaps["period"].iloc[-1])
    out["coverage"] = coverage.astype("float64")
    for column in COLUMNS:
        if column not in COUNTS:
            out[column] = out[column].astype("float64")
    if keys:
        out = out.sort_values(keys, key=lambda s: s.astype(str), kind="stable")
    return out[[*keys, *COLUMNS]].reset_index(drop=True)

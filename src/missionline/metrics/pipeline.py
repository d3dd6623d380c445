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

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from missionline.data.schema import Table
from missionline.errors import MissionlineError
from missionline.metrics.library import metric_value
from missionline.metrics.periods import PERIODS, period_start
from missionline.metrics.portable import count_true, labelled, quantile, seconds_between
from missionline.metrics.records import Records, resolve_dimension
from missionline.plan.models import Objective, Plan, SuccessFactor

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
FREQUENCIES = {"week": "W-SUN", "month": "M", "quarter": "Q-DEC", "year": "Y-DEC"}
MONTHS = {"month": 1, "quarter": 3, "year": 12}
AsOf = str | dt.date | pd.Timestamp | None


@dataclass(frozen=True)
class Target:
    """The bookings target coverage is measured against, and what is left of it at ``as_of``."""

    id: str
    metric: str
    target: float
    period_start: dt.date
    remaining: float


def check_period(period: str | None) -> None:
    """Raise a clear error for a period name that is not week, month, quarter or year."""
    if period is not None and period not in FREQUENCIES:
        raise MissionlineError(f"unknown period {period!r}; use one of {', '.join(PERIODS)}")


def resolve_as_of(tables: dict[str, ir.Table], as_of: AsOf = None) -> pd.Timestamp:
    """The measurement instant: ``as_of`` (a date is its midnight UTC) or the end of the data."""
    if as_of is not None:
        try:
            stamp = pd.Timestamp(as_of)
        except (ValueError, TypeError):
            stamp = None
        if stamp is None or pd.isna(stamp):
            raise MissionlineError(f"invalid as-of {as_of!r}; write a date such as 2025-06-30")
        return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp
    opps, events = tables["opportunities"], tables["stage_events"]
    closed = opps.filter(opps.status.isin(["won", "lost"]))
    latest = ibis.union(
        opps.select(t=opps.created_at),
        closed.select(t=closed.closed_at),
        events.select(t=events.entered_at),
    ).t.max()
    value = latest.execute()
    if value is None or pd.isna(value):  # no data at all: the end of today
        value = pd.Timestamp.now(tz="UTC").tz_localize(None)
    return pd.Timestamp(value).normalize() + pd.Timedelta(days=1)


def timestamp(stamp: pd.Timestamp) -> ir.TimestampScalar:
    """An Ibis timestamp literal for a (naive UTC) pandas timestamp."""
    return ibis.literal(stamp.to_pydatetime(), type="timestamp")


def open_at(
    created: ir.TimestampValue, closed: ir.TimestampValue, status: ir.StringValue, at: ir.Value
) -> ir.BooleanValue:
    """True for a deal open at instant ``at``: created before it, and open or closed at/after it."""
    return (created < at) & ((status == "open") | (closed.notnull() & (closed >= at)))


def calendar_periods(
    first: pd.Timestamp, last: pd.Timestamp, period: str
) -> list[tuple[dt.date, pd.Timestamp]]:
    """Each period from the one containing ``first`` to the one containing ``last``: start, end."""
    check_period(period)
    index = pd.period_range(first, last, freq=FREQUENCIES[period])
    return [(p.start_time.date(), (p + 1).start_time) for p in index]


def bookings_target(tables: dict[str, ir.Table], plan: Plan, as_of: pd.Timestamp) -> Target | None:
    """The first success factor (else objective) measured by ``won_amount``, left at ``as_of``."""
    items: list[SuccessFactor | Objective] = [*plan.success_factors, *plan.objectives]
    item = next(
        (
            i
            for i in items
            if i.metric in plan.metrics and plan.metrics[i.metric].measure == "won_amount"
        ),
        None,
    )
    if item is None:
        return None
    if item.period == "horizon":
        if plan.mission is None:
            return None
        start = plan.mission.horizon.start
    else:
        months = MONTHS[item.period]
        index = ((as_of.year * 12 + as_of.month - 1) // months) * months
        start = dt.date(index // 12, index % 12 + 1, 1)
    done = metric_value(tables, plan, item.metric, start, as_of.to_pydatetime()) or 0.0
    return Target(item.id, item.metric, item.target, start, item.target - done)


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


def stage_probabilities(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    as_of: AsOf = None,
) -> pd.DataFrame:
    """Per opportunity stage of the main path: closed deals that entered it, won, share won."""
    stamp = resolve_as_of(tables, as_of)
    at = timestamp(stamp)
    stages = [s.id for s in plan.lifecycle.path() if s.record_type == "opportunity"]
    frame = pd.DataFrame({"stage": stages})
    if not stages:
        return frame.assign(closed=0, won=0, probability=pd.Series(dtype="float64"))
    events = tables["stage_events"]
    entered = (
        events.filter(
            (events.record_type == "opportunity")
            & events.stage.isin(stages)
            & (events.entered_at < at)
        )
        .select(_rid=events.record_id, stage=events.stage)
        .distinct()
    )
    opps = tables["opportunities"]
    closed = opps.filter(
        opps.status.isin(["won", "lost"]) & opps.closed_at.notnull() & (opps.closed_at < at)
    ).select(_oid=opps.opportunity_id, _won=opps.status == "won")
    joined = entered.join(closed, entered._rid == closed._oid)
    counts = joined.group_by("stage").agg(closed=joined.count(), won=count_true(joined._won))
    frame = frame.merge(counts.to_pandas(), on="stage", how="left")
    frame["closed"] = frame["closed"].fillna(0).astype("int64")
    frame["won"] = frame["won"].fillna(0).astype("int64")
    frame["probability"] = (frame["won"] / frame["closed"].where(frame["closed"] > 0)).astype(
        "float64"
    )
    return frame


def _current_stage(tables: dict[str, ir.Table], plan: Plan, keys: ir.Table) -> ir.Table:
    """``(_rid, _csnap, _stage)``: each open deal's latest opportunity stage before the snapshot."""
    path = [s.id for s in plan.lifecycle.path() if s.record_type == "opportunity"]
    events = tables["stage_events"]
    events = events.filter((events.record_type == "opportunity") & events.stage.isin(path)).select(
        _rid=events.record_id, _stage=events.stage, _at=events.entered_at
    )
    joined = keys.join(events, [keys.record_id == events._rid, events._at < keys._snap])
    order = joined._stage.substitute({s: i for i, s in enumerate(path)}, else_=-1)
    window = ibis.window(
        group_by=[joined._rid, joined._snap], order_by=[ibis.desc(joined._at), ibis.desc(order)]
    )
    ranked = joined.mutate(_n=ibis.row_number().over(window))
    ranked = ranked.filter(ranked._n == 0)
    return ranked.select("_rid", "_stage", _csnap=ranked._snap)


def _snapshots(
    tables: dict[str, ir.Table], period: str | None, as_of: pd.Timestamp
) -> pd.DataFrame | None:
    """``(period, _snap)``: each period's end (``as_of`` for the last); None without a period."""
    if period is None:
        return None
    opps = tables["opportunities"]
    first = opps.filter(opps.created_at < timestamp(as_of)).created_at.min().execute()
    if first is None or pd.isna(first):
        return pd.DataFrame(
            {"period": pd.Series(dtype=object), "_snap": pd.Series(dtype="datetime64[us]")}
        )
    last = as_of - pd.Timedelta(microseconds=1)
    spans = calendar_periods(pd.Timestamp(first), last, period)
    return pd.DataFrame(
        {
            "period": pd.Series([start for start, _ in spans], dtype=object),
            "_snap": pd.Series([min(end, as_of) for _, end in spans], dtype="datetime64[us]"),
        }
    )


def _open_aggregate(
    tables: dict[str, ir.Table],
    plan: Plan,
    rows: ir.Table,
    keys: list[str],
    snaps: pd.DataFrame | None,
    at: ir.TimestampScalar,
    probabilities: dict[str, float],
) -> pd.DataFrame:
    """Open deals per group (and period end): count, amount, weighted and target-matching amount."""
    joined = rows.mutate(_snap=at) if snaps is None else rows.cross_join(ibis.memtable(snaps))
    opened = joined.filter(open_at(joined._created, joined._closed, joined._status, joined._snap))
    probability: ir.FloatingValue = ibis.null("float64")
    if probabilities:  # else nothing has closed yet: no deal carries any weight
        current = _current_stage(tables, plan, opened.select("record_id", "_snap").distinct())
        opened = opened.left_join(
            current, [opened.record_id == current._rid, opened._snap == current._csnap]
        ).drop("_rid", "_csnap")
        first = next(s.id for s in plan.lifecycle.path() if s.record_type == "opportunity")
        probability = opened._stage.fill_null(first).substitute(
            probabilities, else_=ibis.null("float64")
        )
    metrics = {
        "open_count": opened.count(),
        "open_amount": opened._amount.sum(),
        "weighted_pipeline": (opened._amount * probability.fill_null(0.0)).sum(),
        "_target_open": opened._amount.sum(where=opened._target),
    }
    expr = opened.group_by(keys).agg(**metrics) if keys else opened.aggregate(**metrics)
    return expr.to_pandas()


def _closed_aggregate(
    rows: ir.Table, keys: list[str], period: str | None, at: ir.TimestampScalar
) -> pd.DataFrame:
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
    expr = closed.group_by(keys).agg(**metrics) if keys else closed.aggregate(**metrics)
    return expr.to_pandas()


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
    probabilities = stage_probabilities(tables, schema, plan, stamp).dropna(subset=["probability"])
    snaps = _snapshots(tables, period, stamp)
    closed = _closed_aggregate(rows, keys, period, at)
    opened = _open_aggregate(
        tables,
        plan,
        rows,
        keys,
        snaps,
        at,
        dict(zip(probabilities["stage"], probabilities["probability"], strict=True)),
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

"""The revenue wave: marketing load, sales capacity, pipeline and bookings on one weekly axis.

Marketing plans create *resource scarcity* (campaign load); the buying cycle creates
*opportunity scarcity* (closing crunches). The wave puts both on one time axis, so that a CMO
and a CRO can see when they collide and how long marketing's hand-offs take to become bookings.

Definitions (the choices PRODUCT.md leaves open):

* **Weeks** are ISO weeks, Monday 00:00 to the next Monday 00:00, UTC; ``week`` is the Monday's
  date. The axis runs from the earliest to the latest week holding any measured activity, and
  every week in between is a row (per group), with zeros where nothing happened.
* ``marketing_spend``: spend rows of the marketing function, each spread evenly over its period
  [period_start, period_end): a week gets the share of the period that falls in it (per day when
  periods run midnight to midnight, to the second otherwise). A row whose period_end is not
  after its period_start counts wholly in the week of its period_start.
* ``marketing_touches``: touches whose function is marketing, by the week of ``at``.
* ``mql_entries``: entries into the *hand-off stage(s)*: the main-path stages owned by marketing
  whose next main-path stage is owned by sales (``mql`` in the demo plan); ``handoff`` names
  other stages. Distinct records per stage and week, so a recycled lead that qualifies again
  in a later week counts again (it is new work for sales), and twice in one week counts once.
* ``pipeline_created``: the amount of the opportunities created in the week; ``bookings`` and
  ``won_deals``: the amount and number of won opportunities by the week of ``closed_at``. Both
  count the opportunity kinds in ``kinds`` (default new and expansion: renewals follow contract
  anniversaries, not demand); an opportunity without a kind counts as new. Amounts are summed
  as stored (no currency conversion).
* ``open_opportunities``: opportunities of any kind, owned by a rep with a capacity, open at the
  week's end (the next Monday 00:00): created before it and not won or lost before it. Only a
  won or lost status with a ``closed_at`` closes an opportunity (a CRM's expected close date on
  an open deal does not); a closed status without a date cannot be placed in time and is left
  out; a close dated before the creation counts at the creation.
* ``rep_capacity``: the sum of ``owners.capacity`` over owners with a capacity above zero; the
  data model keeps no history, so it is today's capacity on every week. ``capacity_use`` =
  open_opportunities ÷ rep_capacity (null without capacity). With ``by``, each group's open deals
  are divided by the whole capacity, so the groups add up to the company's use.
* ``marketing_load``: one index of campaign load, the mean over spend, touches and MQL entries
  of each series divided by its average week (1 = an average week; a series that is zero on
  every week of the group is left out). MQL entries belong to it because each is work that
  marketing's campaigns hand to sales.
* ``quarter_end``: the week's Monday falls in the last 14 days of its calendar quarter: the two
  weeks of each quarter's closing crunch.
* ``by`` takes the funnel's dimensions. Touches, MQL entries and opportunities take the value of
  their person, opportunity or account (touches without a person through their account);
  ``channel`` and ``initiative``/``message`` split spend by its own channel and initiative; for
  other dimensions spend is in the null group, and so are touches for owner dimensions. Sums
  over the groups equal the company's wave (the load index aside: it is relative per group).

Lag (``wave_analysis.wave_lag``, ``best_lag``): the correlation of MQL entries with
bookings ``k`` weeks later, for k = 0 to ``max_lag_weeks``, on the company's weekly series
(groups summed),
without the axis's first and last weeks (usually partial: an extract starts and ends mid-week).
Each series is first summed over trailing 4-week windows, which averages out lumpy deals, then
detrended (its least-squares line removed), so that common growth does not pass for a lead;
the quarter-end cycle of bookings, which MQLs do not share, only adds noise. The best lag is the
one with the highest positive correlation (the shortest on ties); none if no correlation is
positive. Lags with fewer than 8 pairs have no correlation. It is the lag at which the MQL
wave shows most strongly in bookings: near the most common MQL-to-close delay, shorter than the
median delay when delays are right-skewed. The smoothed series are autocorrelated, so the
usual ±2/√n band does not apply: read the correlation as a strength, the peak as the estimate.

Collisions (``wave_analysis.collisions``): quartiles (linearly interpolated) over the
weeks of the axis, per group, ties at the threshold included. A *campaign peak* is a week
whose marketing_load is in the top quartile (and above zero);
a *closing crunch* one whose bookings or capacity_use is in the top quartile (and above zero).
A ``collision`` is a campaign peak in a closing crunch (``crunch`` says which: bookings,
capacity or both); an ``idle`` week has marketing_load and capacity_use both in the bottom
quartile (resources idle on both sides), in a group that holds open deals at some time. The
quartiles are over the weeks shown, so the first weeks of a new CRM, before deals pile up,
show as idle. ``wave_analysis.quarter_crunches`` reads the same flags per complete calendar quarter
(a quarter is complete when the axis holds every week whose Monday falls in it): the share of
its bookings and won deals in its two quarter-end weeks, whether one of those weeks was a
closing crunch, and whether it was also a collision.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from missionline.data.schema import Table
from missionline.errors import MissionlineError
from missionline.metrics.batch import one_query
from missionline.metrics.periods import period_start
from missionline.metrics.records import Dimension, Records, resolve_dimension
from missionline.metrics.stays import needs_owner
from missionline.plan.models import Plan

MARKETING = "marketing"
SALES = "sales"
WEEK_SECONDS = 7 * 86400
CRUNCH_DAYS = 14  # the closing crunch: the last two weeks of a quarter
DEFAULT_KINDS = ("new", "expansion")
LOAD_PARTS = ("marketing_spend", "marketing_touches", "mql_entries")
# the wave's columns, in order; any others are the --by groups
COLUMNS = [
    *("week", "marketing_spend", "marketing_touches", "mql_entries", "marketing_load"),
    *("pipeline_created", "bookings", "won_deals", "open_opportunities", "rep_capacity"),
    *("capacity_use", "quarter_end"),
]
# weekly sums from the engine (the last two: open-deal changes behind the cumulative count)
SERIES = [
    *("marketing_spend", "marketing_touches", "mql_entries", "pipeline_created", "bookings"),
    *("won_deals", "_opened", "_closed"),
]


def handoff_stages(plan: Plan, marketing: str = MARKETING, sales: str = SALES) -> list[str]:
    """Return the main-path stages owned by marketing whose next main-path stage sales owns."""
    path = plan.lifecycle.path()
    return [
        stage.id
        for stage, nxt in itertools.pairwise(path)
        if stage.owner == marketing and nxt.owner == sales
    ]


def _week(ts: ir.TimestampValue) -> ir.DateValue:
    return period_start(ts, "week")


def _weekly(table: ir.Table, keys: list[str], **metrics: ir.Value) -> ir.Table:
    """Aggregate ``table`` by week and group."""
    return table.group_by(["week", *keys]).agg(**metrics)


def _spend(tables: dict[str, ir.Table], dims: Sequence[Dimension], marketing: str) -> ir.Table:
    """Marketing spend per week, each row spread over the weeks its period overlaps."""
    spend = tables["spend"]
    spend = spend.filter(spend.function == marketing)
    start, end = spend.period_start.epoch_seconds(), spend.period_end.epoch_seconds()
    first = spend.period_start.truncate("W")
    first_s = first.epoch_seconds()
    # weeks overlapped: from the start's week to the week holding the period's last second
    last = ibis.greatest(end - 1, start)
    spend = spend.mutate(
        _start=start,
        _end=end,
        _first=first,
        _n=((last - first_s) // WEEK_SECONDS + 1).cast("int64"),
    )
    values: dict[str, ir.Value] = {}
    for dim in dims:
        if dim.table == "people" and dim.column == "source_channel":
            values[dim.name] = spend.channel
        elif dim.table == "people" and dim.column == "first_initiative_id":
            value = spend.initiative_id
            if dim.values:
                value = value.substitute(dict(dim.values), else_=ibis.null("string"))
            values[dim.name] = value
        else:
            values[dim.name] = ibis.null(tables[dim.table][dim.column].type())
    spread = spend.mutate(_off=ibis.range(0, spend._n).unnest(), **values)
    week_start = spread._first + (spread._off * 7).as_interval("D")
    ws = week_start.epoch_seconds()
    overlap = ibis.least(spread._end, ws + WEEK_SECONDS) - ibis.greatest(spread._start, ws)
    share = (spread._end > spread._start).ifelse(
        overlap.cast("float64") / (spread._end - spread._start).cast("float64"), 1.0
    )
    spread = spread.mutate(week=week_start.date(), _amount=spread.amount * share)
    return _weekly(spread, [d.name for d in dims], marketing_spend=spread._amount.sum())


def _touches(
    tables: dict[str, ir.Table], dims: Sequence[Dimension], records: Records, marketing: str
) -> ir.Table:
    """Marketing touches per week; a touch takes its person's dimensions, else its account's."""
    touches = tables["touches"]
    touches = touches.filter(touches.function == marketing)
    if not dims:  # no dimension to look up: no split by the record touched
        rows = touches.select(week=_week(touches.at))
        return _weekly(rows, [], marketing_touches=rows.count())
    parts = []
    for record_type, condition, record in (
        ("person", touches.person_id.notnull(), touches.person_id),
        ("account", touches.person_id.isnull(), touches.account_id),
    ):
        rows = touches.filter(condition).select(
            record_id=record, owner_id=ibis.null("string"), week=_week(touches.at)
        )
        parts.append(records.attach(rows, record_type, dims))
    both = ibis.union(*parts)
    return _weekly(both, [d.name for d in dims], marketing_touches=both.count())


def _handoffs(
    tables: dict[str, ir.Table],
    plan: Plan,
    dims: Sequence[Dimension],
    records: Records,
    stages: Sequence[str],
) -> list[ir.Table]:
    """Distinct records entering each hand-off stage per week: a part per stage."""
    events = tables["stage_events"]
    frames = []
    for stage_id in stages:
        rows = events.filter(events.stage == stage_id)
        keys = [rows.record_id, _week(rows.entered_at).name("week")]
        if needs_owner(dims):
            rows = rows.group_by(keys).agg(owner_id=rows.owner_id.argmin(rows.entered_at))
        else:
            rows = rows.select(*keys).distinct()
        rows = records.attach(rows, plan.lifecycle.stage(stage_id).record_type, dims)
        frames.append(_weekly(rows, [d.name for d in dims], mql_entries=rows.count()))
    return frames


def _opportunities(
    tables: dict[str, ir.Table],
    dims: Sequence[Dimension],
    records: Records,
    kinds: Sequence[str] | None,
) -> list[ir.Table]:
    """Pipeline created, bookings and open-deal changes per week and group."""
    opps = tables["opportunities"]
    owners = tables["owners"]
    keys = [d.name for d in dims]
    base = records.attach(
        opps.select(
            "created_at",
            "closed_at",
            "amount",
            "status",
            "owner_id",
            record_id=opps.opportunity_id,
            _kind=opps.kind.fill_null("new"),
        ),
        "opportunity",
        dims,
    )
    counted = base.filter(base._kind.isin(list(kinds))) if kinds is not None else base
    created = counted.mutate(week=_week(counted.created_at))
    won = counted.filter((counted.status == "won") & counted.closed_at.notnull())
    won = won.mutate(week=_week(won.closed_at))
    reps = owners.filter(owners.capacity > 0).owner_id
    held = base.filter(base.owner_id.isin(reps))
    opened = held.filter((held.status == "open") | held.closed_at.notnull())
    opened = opened.mutate(week=_week(opened.created_at))
    closed = held.filter(held.status.isin(["won", "lost"]) & held.closed_at.notnull())
    closed = closed.mutate(week=_week(ibis.greatest(closed.created_at, closed.closed_at)))
    return [
        _weekly(created, keys, pipeline_created=created.amount.sum()),
        _weekly(won, keys, bookings=won.amount.sum(), won_deals=won.count()),
        _weekly(opened, keys, _opened=opened.count()),
        _weekly(closed, keys, _closed=closed.count()),
    ]


def _rep_capacity(tables: dict[str, ir.Table]) -> ir.Table:
    """One row: the sum of the capacities above zero, ``_capacity``."""
    owners = tables["owners"]
    reps = owners.filter(owners.capacity > 0)
    return reps.aggregate(_capacity=reps.capacity.sum())


def _capacity_value(frame: pd.DataFrame) -> float | None:
    """The rep capacity from :func:`_rep_capacity`'s row; None when there is none."""
    total = frame["_capacity"].iloc[0] if len(frame) else None
    return None if total is None or pd.isna(total) or total == 0 else float(total)


def quarter_end_week(week: pd.Series) -> pd.Series:
    """True where the week's Monday falls in the last 14 days of its calendar quarter."""
    monday = pd.to_datetime(week)
    next_quarter = monday.dt.to_period("Q").dt.end_time.dt.normalize() + pd.Timedelta(days=1)
    return (next_quarter - monday) <= pd.Timedelta(days=CRUNCH_DAYS)


def wave(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    by: Sequence[str] = (),
    handoff: Sequence[str] | None = None,
    kinds: Sequence[str] | None = DEFAULT_KINDS,
    marketing: str = MARKETING,
    sales: str = SALES,
) -> pd.DataFrame:
    """Return the revenue wave: one row per ISO week (and group), series as in the module doc."""
    dims = [resolve_dimension(name, schema, plan) for name in by]
    stages = list(handoff) if handoff else handoff_stages(plan, marketing, sales)
    if not stages:
        raise MissionlineError(
            f"the plan has no hand-off stage (a main-path stage owned by {marketing} followed "
            f"by one owned by {sales}); name the stage whose entries are MQLs with --handoff"
        )
    if unknown := [s for s in stages if s not in plan.stage_ids()]:
        raise MissionlineError(
            f"unknown hand-off stage {', '.join(unknown)}; the plan's stages are "
            f"{', '.join(plan.stage_ids())}"
        )
    records = Records(tables)
    *parts, capacity = one_query(
        [_spend(tables, dims, marketing)],
        [_touches(tables, dims, records, marketing)],
        _handoffs(tables, plan, dims, records, stages),
        *([part] for part in _opportunities(tables, dims, records, kinds)),
        [_rep_capacity(tables)],
    )
    return shape_wave(parts, [d.name for d in dims], _capacity_value(capacity))


def _axis(parts: Sequence[pd.DataFrame], group: list[str]) -> pd.DataFrame:
    """Every week from the first to the last with activity, crossed with every group seen."""
    seen = [pd.to_datetime(p["week"]) for p in parts if len(p)]
    if not seen:
        empty = {"week": pd.Series(dtype="datetime64[us]")}
        return pd.DataFrame(empty | {g: pd.Series(dtype=object) for g in group})
    weeks = pd.concat(seen, ignore_index=True)
    axis = pd.DataFrame({"week": pd.date_range(weeks.min(), weeks.max(), freq="7D")})
    if not group:
        return axis
    combos = pd.concat([p[group] for p in parts], ignore_index=True).drop_duplicates()
    return combos.merge(axis, how="cross")[["week", *group]]


def shape_wave(
    parts: Sequence[pd.DataFrame], group: list[str], capacity: float | None
) -> pd.DataFrame:
    """Join the weekly series on the full axis, fill empty weeks with zeros, derive the rest."""
    parts = [p.assign(week=pd.to_datetime(p["week"])) for p in parts]
    out = _axis(parts, group)
    for part in parts:
        # nulls must match nulls when joining groups: an unknown channel is a group too
        out = out.merge(part, on=["week", *group], how="left")
    for column in SERIES:
        out[column] = out[column].astype("float64").fillna(0.0)
    for column in ("marketing_touches", "mql_entries", "won_deals", "_opened", "_closed"):
        out[column] = out[column].astype("int64")
    out = out.sort_values([*group, "week"], key=_null_last).reset_index(drop=True)
    keys = week_keys(out, group)
    grouped = out.groupby(keys, sort=False)
    opened, closed = grouped["_opened"].cumsum(), grouped["_closed"].cumsum()
    out["open_opportunities"] = (opened - closed).astype("int64")
    return finish(out, keys, capacity)[[*COLUMNS, *group]]


def week_keys(frame: pd.DataFrame, group: list[str]) -> list[pd.Series]:
    """Group keys in which null is a value of its own (pandas would drop it)."""
    keys = [frame[g].astype(object).where(frame[g].notna(), "\0") for g in group]
    return keys or [pd.Series(np.zeros(len(frame)), index=frame.index)]


def finish(out: pd.DataFrame, keys: list[pd.Series], capacity: float | None) -> pd.DataFrame:
    """Add capacity use, the load index and the quarter-end flag; weeks become dates."""
    out["rep_capacity"] = np.nan if capacity is None else capacity
    out["capacity_use"] = out["open_opportunities"] / out["rep_capacity"]
    out["marketing_load"] = _load(out, keys)
    out["quarter_end"] = quarter_end_week(out["week"]).astype(bool)
    out["week"] = out["week"].dt.date
    return out


def _null_last(series: pd.Series) -> pd.Series:
    return series if series.name == "week" else series.astype(str).where(series.notna(), "\uffff")


def _load(frame: pd.DataFrame, keys: list[pd.Series]) -> pd.Series:
    """The marketing-load index: the mean of each load series relative to its average week."""
    ratios = []
    for column in LOAD_PARTS:
        mean = frame.groupby(keys, sort=False)[column].transform("mean")
        ratios.append(frame[column] / mean.where(mean > 0))
    # a series with no activity in the group is left out of the mean, not counted as zero
    load = pd.concat(ratios, axis=1).mean(axis=1, skipna=True)
    return load.fillna(0.0)

"""Velocity: time in stage per pipeline stage, time to won, and stalled records.

Definitions (the documentation of record for these metrics):

* The **pipeline** is the main path (stages without ``exit``, in plan order) up to, not
  including, the **won stage**: the main-path stage with id ``won`` or, in a plan without one,
  the last main-path stage. Stages from won on (won, customer, expansion, advocate) are
  outcomes and customer states, not waits for a decision: they have no time in stage here.
* A record's **entry** into a stage is its first event at that stage (cohort basis, as in the
  funnel); with ``period``, rows group entries by the period of that first entry.
* The **next entry** is the earliest event, at or after the entry (a tie counts, giving zero
  days), of the record into a later main-path stage up to and including won, or into an exit
  stage of its record type; and of the records it links to (the funnel's links: a person to
  the opportunities whose ``person_id`` it is, an opportunity to its account) into later
  main-path stages of their type up to won. A person at sql leaves sql when its opportunity is
  created. ``time in stage`` = next entry - entry, in days (fractions included).
* ``records``: entries into the stage; ``exited``: entries with a next entry; ``median_days``,
  ``p90_days`` (linear interpolation) and ``mean_days``: over the exited entries only, so
  records still in the stage do not count (the measured times are those of completed stays).
* A record is **in a stage** when its latest entry into the stage is followed by no next entry
  (as above, ties included) and by no entry into an earlier main-path stage of its own type
  (strictly later: a recycled lead that became an MQL again is in mql, not in sal). Events
  after ``as_of`` are ignored everywhere; ``as_of`` defaults to the latest stage entry in the
  data. A record is **stalled** when it has been in the stage longer than the stage's
  threshold: ``days_in_stage`` = as_of - latest entry > ``threshold_days`` (strictly). The
  default threshold is the stage's own p90 time in stage over all records (not per group, so
  grouping never changes which records are stalled); a stage with no completed stay has no
  default threshold and flags nobody. ``stalled`` in the velocity frame counts stalled records
  by the dimensions and period of their latest entry.
* **Time to won**: for every record that entered the won stage (its first won entry), from the
  start of its journey to that entry. The start is the earliest entry at or before the won
  entry into a main-path stage of the first stage's record type (people, in the starter and
  demo plans), by the record itself or the record it comes from (an opportunity's
  ``person_id``); with ``from_stage``, the earliest entry into that stage. Won records with no
  such entry (expansion and renewal deals without a person) are left out. Dimensions and
  period describe the won entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from missionline.data.schema import Table
from missionline.errors import MissionlineError
from missionline.metrics.periods import period_start
from missionline.metrics.records import Dimension, Records, resolve_dimension
from missionline.plan.models import Plan, Stage

SECONDS_PER_DAY = 86400.0
COLUMNS = [
    "stage",
    "records",
    "exited",
    "median_days",
    "p90_days",
    "mean_days",
    "stalled",
    "threshold_days",
]
STALLED_COLUMNS = ["stage", "record_id", "entered_at", "days_in_stage", "owner_id"]
STALLED_COLUMNS.append("threshold_days")
TO_WON_COLUMNS = ["from_stage", "stage", "records", "median_days", "p90_days", "mean_days"]
JOURNEY_START = "journey_start"  # the from_stage label of the default start
AsOf = datetime | date | str | pd.Timestamp | None


def won_stage(plan: Plan) -> Stage:
    """Return the stage that ends the pipeline: ``won`` on the main path, else the last one."""
    path = plan.lifecycle.path()
    return next((s for s in path if s.id == "won"), path[-1])


def pipeline(plan: Plan) -> list[Stage]:
    """Return the main-path stages before the won stage, in plan order."""
    path = plan.lifecycle.path()
    return path[: path.index(won_stage(plan))]


def resolve_as_of(tables: dict[str, ir.Table], as_of: AsOf) -> datetime | None:
    """Return ``as_of`` as a naive UTC datetime; by default the latest stage entry (or None)."""
    if as_of is None:
        latest = tables["stage_events"].entered_at.max().execute()
        return None if latest is None or pd.isna(latest) else pd.Timestamp(latest).to_pydatetime()
    try:
        moment = pd.Timestamp(as_of)
    except ValueError:
        raise MissionlineError(f"invalid as-of moment {as_of!r}; write e.g. 2024-03-31") from None
    if moment.tzinfo is not None:  # the data are naive UTC
        moment = moment.tz_convert("UTC").tz_localize(None)
    return moment.to_pydatetime()


def until(tables: dict[str, ir.Table], as_of: datetime | None) -> dict[str, ir.Table]:
    """Return the tables with stage events after ``as_of`` left out."""
    if as_of is None:
        return tables
    events = tables["stage_events"]
    return {**tables, "stage_events": events.filter(events.entered_at <= as_of)}


def days_between(start: ir.TimestampValue, end: ir.TimestampValue) -> ir.FloatingValue:
    """Days from ``start`` to ``end`` (whole seconds, as in the funnel)."""
    return (end.epoch_seconds() - start.epoch_seconds()) / SECONDS_PER_DAY


def first_entries(events: ir.Table, stage: Stage, owner: bool, latest: bool = False) -> ir.Table:
    """One row per record: its first (or latest) entry into ``stage``, with that entry's owner."""
    events = events.filter(events.stage == stage.id)
    at = events.entered_at.max() if latest else events.entered_at.min()
    metrics: dict[str, ir.Value] = {"entered_at": at}
    if owner:
        pick = events.owner_id.argmax if latest else events.owner_id.argmin
        metrics["owner_id"] = pick(events.entered_at)
    return events.group_by("record_id").agg(**metrics)


def candidates(
    events: ir.Table, records: Records, plan: Plan, stage: Stage, earlier: bool = False
) -> ir.Table:
    """Events that end a stay in ``stage``: ``_id`` (the stage's record), ``_at``, ``_stage``,
    ``_prio`` (0 main path, 1 exit: a tie goes to the main path), ``_reason`` and ``_strict``
    (True for the earlier main-path stages that only count strictly after the entry).
    """
    path = plan.lifecycle.path()
    start, won = path.index(stage), path.index(won_stage(plan))
    later = path[start + 1 : won + 1]
    own = [s.id for s in later if s.record_type == stage.record_type]
    exits = [s.id for s in plan.lifecycle.stages if s.exit and s.record_type == stage.record_type]
    before = [s.id for s in path[:start] if s.record_type == stage.record_type] if earlier else []
    parts = []

    def part(rows: ir.Table, ids: ir.StringValue, prio: int, strict: bool) -> ir.Table:
        return rows.select(
            _id=ids,
            _at=rows.entered_at,
            _stage=rows.stage,
            _prio=ibis.literal(prio, "int64"),
            _reason=rows.reason,
            _strict=ibis.literal(strict),
        )

    for ids, prio, strict in ((own, 0, False), (exits, 1, False), (before, 0, True)):
        if ids:
            rows = events.filter(events.stage.isin(ids))
            parts.append(part(rows, rows.record_id, prio, strict))
    for other in dict.fromkeys(s.record_type for s in later if s.record_type != stage.record_type):
        link = records.link(stage.record_type, other)
        if link is None:
            continue
        rows = events.filter(
            events.stage.isin([s.id for s in later if s.record_type == other])
        ).join(link, events.record_id == link.to_id)
        parts.append(part(rows, rows.from_id, 0, False))
    if not parts:  # nothing after this stage: an empty table of the same shape
        return part(events.filter(ibis.literal(False)), events.record_id, 0, False)
    return ibis.union(*parts)


def next_moves(entries: ir.Table, moves: ir.Table) -> ir.Table:
    """Add ``next_at``, ``next_stage``, ``next_prio`` and ``next_reason``: the first move at or
    after each entry, a main-path move before an exit at the same instant, then exits by stage
    id and reason."""
    joined = entries.left_join(
        moves, [entries.record_id == moves._id, moves._at >= entries.entered_at]
    )
    order = [joined._at, joined._prio, joined._stage, joined._reason]
    rank = ibis.row_number().over(group_by=joined.record_id, order_by=order)
    first = joined.mutate(_rank=rank).filter(lambda t: t._rank == 0)
    return first.drop("_id", "_strict", "_rank").rename(
        next_at="_at", next_stage="_stage", next_prio="_prio", next_reason="_reason"
    )


def in_stage(events: ir.Table, records: Records, plan: Plan, stage: Stage) -> ir.Table:
    """Records currently in ``stage``: ``record_id``, latest ``entered_at`` and its ``owner_id``."""
    latest = first_entries(events, stage, owner=True, latest=True)
    moves = candidates(events, records, plan, stage, earlier=True)
    # Each record's last move of either kind, then an equi-join: far faster than an anti-join
    # on an inequality.
    last = moves.group_by("_id").agg(
        _move=moves._at.max(where=~moves._strict), _back=moves._at.max(where=moves._strict)
    )
    joined = latest.left_join(last, latest.record_id == last._id)
    stays = (joined._move.isnull() | (joined._move < joined.entered_at)) & (
        joined._back.isnull() | (joined._back <= joined.entered_at)
    )
    return joined.filter(stays).select("record_id", "entered_at", "owner_id")


def dimensions(by: Sequence[str], schema: dict[str, Table], plan: Plan) -> list[Dimension]:
    """Resolve the ``--by`` names."""
    return [resolve_dimension(name, schema, plan) for name in by]


def needs_owner(dims: Sequence[Dimension]) -> bool:
    """True when a dimension reads the entry's owner."""
    return any(d.table in ("stage_events", "owners") for d in dims)


def group_columns(dims: Sequence[Dimension], period: str | None) -> list[str]:
    """The output's group columns."""
    return [d.name for d in dims] + (["period"] if period else [])


def aggregate(rows: ir.Table, group: list[str], **metrics: Any) -> ir.Table:
    """Aggregate ``rows`` by ``group`` (or as a whole)."""
    return rows.group_by(group).agg(**metrics) if group else rows.aggregate(**metrics)


def _stays(tables: dict[str, ir.Table], plan: Plan, stage: Stage, owner: bool) -> ir.Table:
    """First entries into ``stage`` with their next move and ``days`` (null when none)."""
    events, records = tables["stage_events"], Records(tables)
    moved = next_moves(
        first_entries(events, stage, owner), candidates(events, records, plan, stage)
    )
    return moved.mutate(days=days_between(moved.entered_at, moved.next_at))


def thresholds_for(
    tables: dict[str, ir.Table],
    plan: Plan,
    given: dict[str, float] | None,
    measured: dict[str, float | None] | None = None,
) -> dict[str, float | None]:
    """Each pipeline stage's stall threshold in days: the given one, else the stage's p90
    (from ``measured``, the ungrouped p90 per stage, when the caller has it already)."""
    stages = pipeline(plan)
    given = dict(given or {})
    unknown = sorted(set(given) - {s.id for s in stages})
    if unknown:
        raise MissionlineError(
            f"no stall threshold can be set for {', '.join(unknown)}: use a pipeline stage "
            f"({', '.join(s.id for s in stages)})"
        )
    out: dict[str, float | None] = {k: float(v) for k, v in given.items()}
    if measured is not None:
        return {s.id: out[s.id] if s.id in out else measured.get(s.id) for s in stages}
    parts = [
        _stays(tables, plan, s, False).aggregate(
            stage=ibis.literal(s.id), p90=lambda t: t.days.quantile(0.9)
        )
        for s in stages
        if s.id not in given
    ]
    if parts:
        for row in ibis.union(*parts).to_pandas().itertuples():
            out[str(row.stage)] = number(row.p90)
    return {s.id: out.get(s.id) for s in stages}


def _stalled_rows(
    tables: dict[str, ir.Table], plan: Plan, stage: Stage, threshold: float, as_of: datetime
) -> ir.Table:
    """Records in ``stage`` longer than ``threshold`` days at ``as_of``."""
    current = in_stage(tables["stage_events"], Records(tables), plan, stage)
    current = current.mutate(days_in_stage=days_between(current.entered_at, ibis.literal(as_of)))
    return current.filter(current.days_in_stage > threshold)


def stalled_counts(
    tables: dict[str, ir.Table],
    plan: Plan,
    dims: Sequence[Dimension],
    period: str | None,
    thresholds: dict[str, float | None],
    as_of: datetime | None,
) -> pd.DataFrame:
    """Stalled records per stage and group (``tables`` already cut at ``as_of``)."""
    group = group_columns(dims, period)
    parts = []
    for stage in pipeline(plan):
        limit = thresholds.get(stage.id)
        if limit is None or as_of is None:
            continue
        rows = Records(tables).attach(
            _stalled_rows(tables, plan, stage, limit, as_of), stage.record_type, dims
        )
        if period:
            rows = rows.mutate(period=period_start(rows.entered_at, period))
        parts.append(aggregate(rows, group, stage=ibis.literal(stage.id), stalled=rows.count()))
    if not parts:
        return pd.DataFrame(columns=["stage", "stalled", *group])
    return ibis.union(*parts).to_pandas()


def stalled(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    thresholds: dict[str, float] | None = None,
    as_of: AsOf = None,
) -> pd.DataFrame:
    """List the stalled records, a to-do list: longest in their stage first."""
    moment = resolve_as_of(tables, as_of)
    tables = until(tables, moment) if as_of is not None else tables
    limits = thresholds_for(tables, plan, thresholds)
    parts = []
    for stage in pipeline(plan):
        limit = limits[stage.id]
        if limit is None or moment is None:
            continue
        rows = _stalled_rows(tables, plan, stage, limit, moment)
        parts.append(
            rows.select(
                stage=ibis.literal(stage.id),
                record_id=rows.record_id,
                entered_at=rows.entered_at,
                days_in_stage=rows.days_in_stage,
                owner_id=rows.owner_id,
                threshold_days=ibis.literal(limit, "float64"),
            )
        )
    if not parts:
        return pd.DataFrame(columns=STALLED_COLUMNS)
    frame = ibis.union(*parts).to_pandas()
    frame = frame.sort_values(
        ["days_in_stage", "stage", "record_id"], ascending=[False, True, True]
    )
    return frame[STALLED_COLUMNS].reset_index(drop=True)


def velocity(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    by: Sequence[str] = (),
    period: str | None = None,
    stalled_days: dict[str, float] | None = None,
    as_of: AsOf = None,
) -> pd.DataFrame:
    """Return time in stage per pipeline stage in plan order, with stalled records counted."""
    dims = dimensions(by, schema, plan)
    group = group_columns(dims, period)
    moment = resolve_as_of(tables, as_of)
    tables = until(tables, moment) if as_of is not None else tables
    parts = []
    for stage in pipeline(plan):
        stays = Records(tables).attach(
            _stays(tables, plan, stage, needs_owner(dims)), stage.record_type, dims
        )
        if period:
            stays = stays.mutate(period=period_start(stays.entered_at, period))
        metrics = {
            "stage": ibis.literal(stage.id),
            "records": stays.count(),
            "exited": stays.next_at.notnull().sum(),
            "median_days": stays.days.quantile(0.5),
            "p90_days": stays.days.quantile(0.9),
            "mean_days": stays.days.mean(),
        }
        parts.append(aggregate(stays, group, **metrics))
    raw = ibis.union(*parts).to_pandas() if parts else pd.DataFrame(columns=["stage", *group])
    measured = None if group else {str(r.stage): number(r.p90_days) for r in raw.itertuples()}
    limits = thresholds_for(tables, plan, stalled_days, measured)
    counts = stalled_counts(tables, plan, dims, period, limits, moment)
    stages = [s.id for s in pipeline(plan)]
    out = fill(raw, counts, stages, group, [*COLUMNS[1:3], "stalled"], COLUMNS[3:6])
    out["threshold_days"] = out["stage"].map(limits).astype("float64")
    return out[[*COLUMNS, *group]]


def number(value: Any) -> float | None:
    """A float, or None for a missing value."""
    return None if value is None or pd.isna(value) else float(value)


def fill(
    raw: pd.DataFrame,
    counts: pd.DataFrame,
    stages: list[str],
    group: list[str],
    integers: Sequence[str],
    floats: Sequence[str],
) -> pd.DataFrame:
    """Join per-stage aggregates, give every group every stage (zero counts), order the rows."""
    for frame in (raw, counts):
        if "period" in group and len(frame):
            frame["period"] = pd.to_datetime(frame["period"]).dt.date
    grid = pd.DataFrame({"stage": stages})
    if group:
        combos = pd.concat([raw[group], counts[group]]).drop_duplicates()
        grid = combos.merge(grid, how="cross")
    out = grid.merge(raw, on=["stage", *group], how="left")
    out = out.merge(counts, on=["stage", *group], how="left")
    for col in integers:
        out[col] = pd.to_numeric(out[col]).fillna(0).astype("int64")
    for col in floats:
        out[col] = pd.to_numeric(out[col]).astype("float64")
    out["_order"] = out["stage"].map({s: i for i, s in enumerate(stages)})
    out = out.sort_values([*group, "_order"], key=sort_key, kind="stable")
    return out.drop(columns="_order").reset_index(drop=True)


def sort_key(column: pd.Series) -> pd.Series:
    """Sort numbers as numbers, other values as text, nulls last."""
    if pd.api.types.is_numeric_dtype(column):
        return column
    return column.astype(str).where(column.notna(), "\uffff")


def time_to_won(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    by: Sequence[str] = (),
    period: str | None = None,
    from_stage: str | None = None,
) -> pd.DataFrame:
    """Return the days from the start of the journey (or ``from_stage``) to the won entry."""
    dims = dimensions(by, schema, plan)
    group = group_columns(dims, period)
    path = plan.lifecycle.path()
    won = won_stage(plan)
    if from_stage is None:
        start_type = path[0].record_type
        starts = [s.id for s in path[: path.index(won)] if s.record_type == start_type]
    elif from_stage in [s.id for s in pipeline(plan)]:
        start_type, starts = plan.lifecycle.stage(from_stage).record_type, [from_stage]
    else:
        raise MissionlineError(
            f"unknown start stage {from_stage!r}; use a main-path stage before {won.id}"
        )
    events = tables["stage_events"]
    entries = first_entries(events, won, needs_owner(dims))
    if start_type == won.record_type:
        linked = entries.mutate(_to=entries.record_id)
    else:
        link = Records(tables).link(won.record_type, start_type, many=False)
        if link is None:
            linked = entries.mutate(_to=ibis.null("string"))
        else:
            linked = entries.join(link, entries.record_id == link.from_id)
            linked = linked.mutate(_to=linked.to_id).drop("from_id", "to_id")
    begun = events.filter(events.stage.isin(starts)).select(
        _sid=events.record_id, _sat=events.entered_at
    )
    joined = linked.join(begun, [linked._to == begun._sid, begun._sat <= linked.entered_at])
    journeys = joined.group_by(list(entries.columns)).agg(started_at=joined._sat.min())
    journeys = Records(tables).attach(journeys, won.record_type, dims)
    if period:
        journeys = journeys.mutate(period=period_start(journeys.entered_at, period))
    days = days_between(journeys.started_at, journeys.entered_at)
    metrics = {
        "records": journeys.count(),
        "median_days": days.quantile(0.5),
        "p90_days": days.quantile(0.9),
        "mean_days": days.mean(),
    }
    raw = aggregate(journeys, group, **metrics).to_pandas()
    if not group and raw.empty:  # one whole-company row, even for no data
        raw = pd.DataFrame({"records": [0]})
    raw = raw.reindex(columns=[*TO_WON_COLUMNS[2:], *group])
    if "period" in group and len(raw):
        raw["period"] = pd.to_datetime(raw["period"]).dt.date
    raw["records"] = raw["records"].fillna(0).astype("int64")
    for col in TO_WON_COLUMNS[3:]:
        raw[col] = pd.to_numeric(raw[col]).astype("float64")
    raw["from_stage"] = from_stage or JOURNEY_START
    raw["stage"] = won.id
    raw = raw.sort_values(group, key=sort_key) if group else raw
    return raw[[*TO_WON_COLUMNS, *group]].reset_index(drop=True)

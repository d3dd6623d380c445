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
from datetime import datetime

import ibis
import ibis.expr.types as ir
import pandas as pd

from missionline.data.schema import Table
from missionline.errors import MissionlineError
from missionline.metrics.periods import period_start
from missionline.metrics.portable import count_true, labelled, quantile
from missionline.metrics.records import Dimension, Records
from missionline.metrics.stays import (
    AsOf,
    aggregate,
    as_of_scope,
    candidates,
    days_between,
    dimensions,
    fill,
    first_entries,
    group_columns,
    in_stage,
    needs_owner,
    next_moves,
    number,
    pipeline,
    sort_key,
    won_stage,
)
from missionline.plan.models import Plan, Stage

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
            stage=ibis.literal(s.id), p90=lambda t: quantile(t.days, 0.9)
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
    tables, moment = as_of_scope(tables, as_of)
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
    tables, moment = as_of_scope(tables, as_of)
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
            "exited": count_true(stays.next_at.notnull()),
            "median_days": quantile(stays.days, 0.5),
            "p90_days": quantile(stays.days, 0.9),
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
    return labelled(out[[*COLUMNS, *group]], tables)


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
        "median_days": quantile(days, 0.5),
        "p90_days": quantile(days, 0.9),
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
    return labelled(raw[[*TO_WON_COLUMNS, *group]].reset_index(drop=True), tables)

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
from missionline.metrics.batch import one_query
from missionline.metrics.periods import period_start
from missionline.metrics.portable import count_true, labelled, quantile
from missionline.metrics.records import Dimension, Records
from missionline.metrics.stays import (
    AsOf,
    aggregate,
    as_of_scope,
    current,
    days_between,
    dimensions,
    fill,
    first_entries,
    group_columns,
    needs_owner,
    number,
    pipeline,
    sort_key,
    stays_in,
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


def given_thresholds(plan: Plan, given: dict[str, float] | None) -> dict[str, float]:
    """The stall thresholds the caller set, checked to name pipeline stages."""
    stages = pipeline(plan)
    unknown = sorted(set(given or {}) - {s.id for s in stages})
    if unknown:
        raise MissionlineError(
            f"no stall threshold can be set for {', '.join(unknown)}: use a pipeline stage "
            f"({', '.join(s.id for s in stages)})"
        )
    return {k: float(v) for k, v in (given or {}).items()}


def measured(stays: ir.Table, stage: Stage) -> ir.Table:
    """The stage's p90 time in stage over all of ``stays``: one row, ``stage`` and
    ``p90_days``."""
    return stays.aggregate(stage=ibis.literal(stage.id), p90_days=quantile(stays.days, 0.9))


def stalled_rows(
    stays: ir.Table, stage: Stage, given: dict[str, float], as_of: datetime
) -> ir.Table:
    """The records of ``stays`` in the stage longer than its stall threshold at ``as_of``
    (:func:`.stays.current`, with ``threshold_days``): the given one, else the stage's p90 time
    in stage over all of ``stays``, so grouping never changes who is stalled."""
    rows = current(stays, as_of)
    if stage.id in given:
        rows = rows.mutate(threshold_days=ibis.literal(given[stage.id], "float64"))
    else:
        # a one-row join, not a scalar subquery: Ibis compiles a scalar subquery that is also a
        # named column elsewhere in the query with its alias, which is invalid SQL
        limit = measured(stays, stage)
        rows = rows.cross_join(limit.select(threshold_days=limit.p90_days))
    return rows.filter(rows.days_in_stage > rows.threshold_days)


def stalled_part(
    tables: dict[str, ir.Table],
    stays: ir.Table,
    stage: Stage,
    dims: Sequence[Dimension],
    period: str | None,
    given: dict[str, float],
    as_of: datetime,
) -> ir.Table:
    """The stage's stalled records counted by the dimensions and period of their latest entry."""
    rows = stalled_rows(stays, stage, given, as_of)
    rows = Records(tables).attach(rows, stage.record_type, dims)
    if period:
        rows = rows.mutate(period=period_start(rows.entered_at, period))
    group = group_columns(dims, period)
    return aggregate(rows, group, stage=ibis.literal(stage.id), stalled=rows.count())


def stalled(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    thresholds: dict[str, float] | None = None,
    as_of: AsOf = None,
) -> pd.DataFrame:
    """List the stalled records, a to-do list: longest in their stage first."""
    tables, moment = as_of_scope(tables, as_of)
    given = given_thresholds(plan, thresholds)
    if moment is None:  # no stage events: nobody is in a stage
        return pd.DataFrame(columns=STALLED_COLUMNS)
    parts = []
    for stage in pipeline(plan):
        stays = stays_in(tables["stage_events"], Records(tables), plan, stage, owner=True)
        rows = stalled_rows(stays, stage, given, moment)
        parts.append(rows.mutate(stage=ibis.literal(stage.id)).select(*STALLED_COLUMNS))
    (frame,) = one_query(parts)
    frame = frame.reindex(columns=STALLED_COLUMNS)
    frame = frame.sort_values(
        ["days_in_stage", "stage", "record_id"], ascending=[False, True, True]
    )
    return frame.reset_index(drop=True)


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
    given = given_thresholds(plan, stalled_days)
    parts, counts, p90s = [], [], []
    for stage in pipeline(plan):
        stays = stays_in(tables["stage_events"], Records(tables), plan, stage, needs_owner(dims))
        rows = Records(tables).attach(stays, stage.record_type, dims)
        if period:
            rows = rows.mutate(period=period_start(rows.entered_at, period))
        metrics = {
            "stage": ibis.literal(stage.id),
            "records": rows.count(),
            "exited": count_true(rows.next_at.notnull()),
            "median_days": quantile(rows.days, 0.5),
            "p90_days": quantile(rows.days, 0.9),
            "mean_days": rows.days.mean(),
        }
        parts.append(aggregate(rows, group, **metrics))
        if group and stage.id not in given:  # ungrouped, the stage's own p90 is in its row
            p90s.append(measured(stays, stage))
        if moment is not None:
            counts.append(stalled_part(tables, stays, stage, dims, period, given, moment))
    raw, found, ungrouped = one_query(parts, counts, p90s)
    raw = raw.reindex(columns=["stage", *group, *COLUMNS[1:6]])
    p90 = ungrouped.reindex(columns=["stage", "p90_days"]) if group else raw
    limits = {str(k): number(v) for k, v in zip(p90["stage"], p90["p90_days"], strict=True)}
    limits.update(given)
    found = found.reindex(columns=["stage", "stalled", *group])
    stages = [s.id for s in pipeline(plan)]
    out = fill(raw, found, stages, group, [*COLUMNS[1:3], "stalled"], COLUMNS[3:6])
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

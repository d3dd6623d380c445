"""Leakage and recycle: where records leave the pipeline, why, and how many come back.

Definitions (the documentation of record for these metrics), on the pipeline stages and with
the entry and next entry of :mod:`missionline.metrics.velocity`:

* Per pipeline stage, ``records`` counts the entries (a record's first entry into the stage;
  with ``period``, grouped by the period of that entry).
* An entry **leaked directly** from the stage to an exit when its next entry is an exit stage:
  the exit entry is at or after the stage entry and strictly before any later main-path entry
  (of the record, or of a record it links to). A main-path entry at the same instant as an exit
  wins: the record advanced. Two exits at the same instant are ordered by stage id, then reason.
  Only the first exit counts, so a record leaks at most once per stage.
* ``advanced``: the next entry is a later main-path stage (skips included); ``disqualified``,
  ``lost``, ``recycled``: the next entry is an exit stage of that ``exit`` kind; ``open``: no
  next entry yet. ``advanced + disqualified + lost + recycled + open = records``.
  ``leakage_rate`` = (disqualified + lost + recycled) ÷ records.
* ``stalled``: the third way of leaking (PRODUCT.md): records currently in the stage beyond the
  stage's stall threshold, exactly as in the velocity frame (the latest entry counts, grouped by
  its dimensions and period; default threshold the stage's p90 time in stage).
* **Re-entry**: of the entries that leaked to a ``recycled`` exit, ``reentered`` counts those
  whose record later (strictly after the exit entry: a main-path entry at the same instant is
  the tie the record left by) entered the target stage again: the exit stage's
  ``recycle_to`` when it names a main-path stage, else the leaking stage's ``recycle_to`` when
  it does, else any main-path stage of the record's type. ``reentry_rate``
  = reentered ÷ recycled; ``reentry_median_days`` / ``reentry_p90_days``: days from the exit
  entry to the first such re-entry.
* :func:`reasons`: the leaked entries by stage, exit kind and the exit event's ``reason`` (a
  missing reason reads ``unspecified``); ``share`` is the share of that stage's leaks to that
  exit kind (in the same group).
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from missionline.data.schema import Table
from missionline.metrics.batch import one_query
from missionline.metrics.exits import exit_ids, with_reason
from missionline.metrics.periods import period_start
from missionline.metrics.portable import count_true, labelled, quantile
from missionline.metrics.records import Dimension, Records
from missionline.metrics.stays import (
    AsOf,
    aggregate,
    as_of_scope,
    days_between,
    dimensions,
    fill,
    group_columns,
    needs_owner,
    pipeline,
    resolve_as_of,
    sort_key,
    stays_in,
    until,
)
from missionline.metrics.velocity import given_thresholds, stalled_part
from missionline.plan.models import Plan, Stage

EXIT_KINDS = ("disqualified", "lost", "recycled")
UNSPECIFIED = "unspecified"
COUNTS = ["records", "advanced", *EXIT_KINDS, "open", "stalled", "reentered"]
COLUMNS = [
    "stage",
    "records",
    "advanced",
    *EXIT_KINDS,
    "open",
    "leakage_rate",
    "stalled",
    "reentered",
    "reentry_rate",
    "reentry_median_days",
    "reentry_p90_days",
]
REASON_COLUMNS = ["stage", "exit", "reason", "records", "share"]


def reentry_targets(plan: Plan, stage: Stage, exit_stage: Stage) -> list[str]:
    """The main-path stages a record recycled from ``stage`` into ``exit_stage`` returns to."""
    path = plan.lifecycle.path()
    ids = [s.id for s in path]
    for target in (exit_stage.recycle_to, stage.recycle_to):
        if target in ids:
            return [target]
    return [s.id for s in path if s.record_type == stage.record_type]


def _leaks(tables: dict[str, ir.Table], plan: Plan, stage: Stage, stays: ir.Table) -> ir.Table:
    """The stays in ``stage`` (with ``exit_stage``) with the exit kind of a first move into an
    exit (``_kind``: null when the record advanced or is still open) and the first re-entry
    after a recycle (``back_at``)."""
    events = tables["stage_events"]
    exits = [s for s in plan.lifecycle.stages if s.exit and s.record_type == stage.record_type]
    kinds = {s.id: s.exit for s in exits}
    kind = stays.exit_stage.substitute(kinds) if kinds else ibis.null("string")
    moved = stays.mutate(_kind=kind)
    recycles = [s for s in exits if s.exit == "recycled"]
    if not recycles:
        return moved.mutate(back_at=ibis.null("timestamp"))
    backs = ibis.union(
        *[
            events.filter(events.stage.isin(reentry_targets(plan, stage, x))).select(
                _rid=events.record_id, _rat=events.entered_at, _x=ibis.literal(x.id)
            )
            for x in recycles
        ]
    )
    # Join only the recycled rows, on equalities (a hash join); a left join whose condition
    # also filters the left side made DuckDB fall back to a nested-loop join.
    recycled = moved.filter(moved._kind == "recycled").select(
        _mid=moved.record_id, _mat=moved.entered_at, _mstage=moved.exit_stage, _mnext=moved.next_at
    )
    found = recycled.join(
        backs,
        [
            recycled._mid == backs._rid,
            recycled._mstage == backs._x,
            backs._rat > recycled._mnext,
        ],
    )
    first_back = found.group_by(["_mid", "_mat"]).agg(back_at=found._rat.min())
    joined = moved.left_join(
        first_back, [moved.record_id == first_back._mid, moved.entered_at == first_back._mat]
    )
    return joined.drop("_mid", "_mat")


def _attached(
    tables: dict[str, ir.Table],
    plan: Plan,
    stage: Stage,
    stays: ir.Table,
    dims: Sequence[Dimension],
    period: str | None,
) -> ir.Table:
    """The stage's leak rows with dimensions and period attached."""
    rows = Records(tables).attach(_leaks(tables, plan, stage, stays), stage.record_type, dims)
    if period:
        rows = rows.mutate(period=period_start(rows.entered_at, period))
    return rows


def leakage(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    by: Sequence[str] = (),
    period: str | None = None,
    thresholds: dict[str, float] | None = None,
    as_of: AsOf = None,
) -> pd.DataFrame:
    """Return, per pipeline stage, where its records went: advanced, each exit, open, stalled."""
    dims = dimensions(by, schema, plan)
    group = group_columns(dims, period)
    tables, moment = as_of_scope(tables, as_of)
    events = tables["stage_events"]
    given = given_thresholds(plan, thresholds)
    parts, counts = [], []
    for stage in pipeline(plan):
        stays = stays_in(events, Records(tables), plan, stage, needs_owner(dims), exits=True)
        rows = _attached(tables, plan, stage, stays, dims, period)
        back = days_between(rows.next_at, rows.back_at)
        metrics = {
            "stage": ibis.literal(stage.id),
            "records": rows.count(),
            "advanced": count_true(rows.main_at == rows.next_at),
            **{k: count_true(rows._kind == k) for k in EXIT_KINDS},
            "reentered": count_true(rows.back_at.notnull()),
            "reentry_median_days": quantile(back, 0.5),
            "reentry_p90_days": quantile(back, 0.9),
        }
        parts.append(aggregate(rows, group, **metrics))
        if moment is not None:
            counts.append(stalled_part(tables, stays, stage, dims, period, given, moment))
    raw, found = one_query(parts, counts)
    raw = raw.reindex(columns=["stage", *COUNTS[:-3], *COUNTS[-1:], *COLUMNS[-2:], *group])
    found = found.reindex(columns=["stage", "stalled", *group])
    return labelled(_shape(raw, found, [s.id for s in pipeline(plan)], group), tables)


def _shape(
    raw: pd.DataFrame, counts: pd.DataFrame, stages: list[str], group: list[str]
) -> pd.DataFrame:
    """Fill missing stages per group, derive open and the rates, order the rows."""
    integers = [c for c in COUNTS if c != "open"]
    out = fill(raw, counts, stages, group, integers, ["reentry_median_days", "reentry_p90_days"])
    leaked = out[list(EXIT_KINDS)].sum(axis=1)
    out["open"] = out["records"] - out["advanced"] - leaked
    out["leakage_rate"] = (leaked / out["records"].where(out["records"] > 0)).astype("float64")
    recycled = out["recycled"].where(out["recycled"] > 0)
    out["reentry_rate"] = (out["reentered"] / recycled).astype("float64")
    return out[[*COLUMNS, *group]]


def reasons(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    by: Sequence[str] = (),
    period: str | None = None,
    as_of: AsOf = None,
) -> pd.DataFrame:
    """Return the direct leaks by stage, exit kind and reason, with each reason's share."""
    dims = dimensions(by, schema, plan)
    group = group_columns(dims, period)
    tables = until(tables, resolve_as_of(tables, as_of) if as_of is not None else None)
    events = tables["stage_events"]
    parts = []
    for stage in pipeline(plan):
        stays = stays_in(events, Records(tables), plan, stage, needs_owner(dims), exits=True)
        rows = _attached(tables, plan, stage, stays, dims, period)
        ids = exit_ids(plan, stage.record_type)
        rows = rows.filter(rows._kind.notnull())
        rows = with_reason(events, rows, "next_at", "exit_stage", ids, "next_reason")
        rows = rows.mutate(
            exit=rows._kind, reason=rows.next_reason.fill_null(ibis.literal(UNSPECIFIED))
        )
        parts.append(
            rows.group_by(["exit", "reason", *group]).agg(
                stage=ibis.literal(stage.id), records=rows.count()
            )
        )
    if not parts:
        return pd.DataFrame(columns=[*REASON_COLUMNS, *group])
    frame = ibis.union(*parts).to_pandas()
    if "period" in group and len(frame):
        frame["period"] = pd.to_datetime(frame["period"]).dt.date
    frame["records"] = frame["records"].astype("int64")
    keys = [frame[c].astype(str) for c in ["stage", "exit", *group]]
    frame["share"] = (
        frame["records"] / frame.groupby(keys, dropna=False)["records"].transform("sum")
    ).astype("float64")
    order = {s.id: i for i, s in enumerate(pipeline(plan))}
    frame["_order"] = frame["stage"].map(order)
    frame["_neg"] = -frame["records"]
    frame = frame.sort_values(
        [*group, "_order", "exit", "_neg", "reason"], key=sort_key, kind="stable"
    )
    return frame[[*REASON_COLUMNS, *group]].reset_index(drop=True)

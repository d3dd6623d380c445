"""Stays in stages: first entries, the next move out of a stage, and shared helpers.

Velocity (:mod:`.velocity`) and leakage (:mod:`.leakage`) both follow each record from its
entry into a stage to its next move; the definitions are in :mod:`.velocity`.
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
from missionline.metrics.exits import earliest_per_exit, exit_ids, first_exit_stage
from missionline.metrics.portable import seconds_between
from missionline.metrics.records import Dimension, Records, resolve_dimension
from missionline.plan.models import Plan, Stage

SECONDS_PER_DAY = 86400.0
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


def as_of_scope(
    tables: dict[str, ir.Table], as_of: AsOf
) -> tuple[dict[str, ir.Table], datetime | None]:
    """The tables cut at ``as_of`` (only when given) and the moment stays are measured to."""
    moment = resolve_as_of(tables, as_of)
    return (until(tables, moment) if as_of is not None else tables), moment


def days_between(start: ir.TimestampValue, end: ir.TimestampValue) -> ir.FloatingValue:
    """Days from ``start`` to ``end`` (whole seconds, as in the funnel)."""
    return seconds_between(start, end) / SECONDS_PER_DAY


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
    exits = exit_ids(plan, stage.record_type)
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


def stays_in(
    events: ir.Table, records: Records, plan: Plan, stage: Stage, owner: bool, exits: bool = False
) -> ir.Table:
    """One row per record that entered ``stage``: its first entry ``entered_at`` and latest
    entry ``latest_at`` (with ``owner_id`` and ``latest_owner_id`` when ``owner``), the first
    move at or after the first entry ``next_at`` (null when none) and ``days`` to it, the first
    main-path move ``main_at``, and ``still_in``: no move at or after the latest entry and no
    return to an earlier stage strictly after it (the definitions are in :mod:`.velocity`).
    With ``exits``, ``exit_stage``: the exit stage of a first move into an exit (a main-path
    move at the same instant wins; two exits at that instant go by stage id), else null.

    One join of the entries with their moves and one aggregate (minima and maxima) serve both
    the stays and the records still in the stage: a window sort over the join, or a second
    pass for the latest entries, cost twice as much.
    """
    rows = events.filter(events.stage == stage.id)
    firsts: dict[str, ir.Value] = {
        "entered_at": rows.entered_at.min(),
        "latest_at": rows.entered_at.max(),
    }
    if owner:
        firsts["owner_id"] = rows.owner_id.argmin(rows.entered_at)
        firsts["latest_owner_id"] = rows.owner_id.argmax(rows.entered_at)
    entries = rows.group_by("record_id").agg(**firsts)
    moves = candidates(events, records, plan, stage, earlier=True)
    joined = entries.left_join(
        moves, [entries.record_id == moves._id, moves._at >= entries.entered_at]
    )
    forward = ~joined._strict  # null when the record has no move: no aggregate counts it
    ends = exit_ids(plan, stage.record_type) if exits else []
    moved = joined.group_by(list(entries.columns)).agg(
        next_at=joined._at.min(where=forward),
        main_at=joined._at.min(where=forward & (joined._prio == 0)),
        _last=joined._at.max(where=forward),
        _back=joined._at.max(where=joined._strict),
        **earliest_per_exit(joined._at, joined._stage, ends),
    )
    still = (moved._last.isnull() | (moved._last < moved.latest_at)) & (
        moved._back.isnull() | (moved._back <= moved.latest_at)
    )
    extra = {}
    if exits:
        leaked = moved.main_at.isnull() | (moved.main_at > moved.next_at)
        first = first_exit_stage(moved, moved.next_at, ends)
        extra["exit_stage"] = ibis.ifelse(leaked, first, ibis.null("string"))
    # a select, not a drop: Ibis shares a select that several parts read as one CTE
    return moved.select(
        *entries.columns,
        "next_at",
        "main_at",
        days=days_between(moved.entered_at, moved.next_at),
        still_in=still,
        **extra,
    )


def current(stays: ir.Table, as_of: datetime) -> ir.Table:
    """The records of ``stays`` still in the stage: ``record_id``, the latest entry as
    ``entered_at`` (and its ``owner_id`` when ``stays`` has owners) and ``days_in_stage`` at
    ``as_of``."""
    rows = stays.filter(stays.still_in)
    columns: dict[str, ir.Value] = {"record_id": rows.record_id, "entered_at": rows.latest_at}
    if "latest_owner_id" in rows.columns:
        columns["owner_id"] = rows.latest_owner_id
    columns["days_in_stage"] = days_between(rows.latest_at, ibis.literal(as_of))
    return rows.select(**columns)


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

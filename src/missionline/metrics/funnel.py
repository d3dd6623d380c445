"""The funnel: entries per stage, conversion to the next stage, cumulative conversion, time to next.

Definitions (also in docs/metrics.md):

* A record's *entry* into a stage is its first event at that stage (cohort basis), or its
  first event at that stage within each period (period basis).
* ``conversion_to_next``: cohort basis, the share of the records that entered the stage which
  later (at or after that entry, and within ``within_days`` if given) entered the next stage of
  the main path, following people to their opportunities and opportunities to their accounts;
  a record that skipped a stage is counted where it actually went. Period basis, entries into the
  next stage in the period divided by entries into this stage in the period.
* ``cumulative_conversion``: the product of the step conversions from the first stage (1 for the
  first stage), i.e. the expected share of first-stage records reaching this stage.
* ``median_days_to_next`` / ``p90_days_to_next``: over records that reached the next stage, the
  time from the entry to the first next-stage entry at or after it (linear interpolation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from missionline.data.schema import Table
from missionline.errors import MissionlineError
from missionline.metrics.periods import period_start
from missionline.metrics.portable import count_true, labelled, quantile, seconds_between
from missionline.metrics.records import Records, resolve_dimension
from missionline.plan.models import Plan

Basis = Literal["cohort", "period"]
COLUMNS = [
    "stage",
    "entries",
    "conversion_to_next",
    "cumulative_conversion",
    "median_days_to_next",
    "p90_days_to_next",
]
SECONDS_PER_DAY = 86400.0


def _entries(
    events: ir.Table, stage_ids: list[str], period: str | None, basis: Basis, owner: bool
) -> ir.Table:
    """First entry per record and stage (and per period on the period basis).

    A stage holds one record type (the import checks it), so record and stage identify an entry.
    The entry's owner, an ordered aggregate, is only computed when a dimension needs it.
    """
    events = events.filter(events.stage.isin(stage_ids))
    keys = [events.record_id, events.stage]
    if basis == "period" and period:
        keys.append(period_start(events.entered_at, period).name("period"))
    metrics = {"entered_at": events.entered_at.min()}
    if owner:
        metrics["owner_id"] = events.owner_id.argmin(events.entered_at)
    entries = events.group_by(keys).agg(**metrics)
    if basis == "cohort" and period:
        entries = entries.mutate(period=period_start(entries.entered_at, period))
    return entries


def _reached(
    stage_entries: ir.Table,
    events: ir.Table,
    next_stage: str,
    link: ir.Table | None,
    same_type: bool,
    within_days: float | None,
) -> ir.Table:
    """Add ``reached_at``: the first next-stage entry at or after the record's entry."""
    if same_type:
        linked = stage_entries.mutate(_to=stage_entries.record_id)
    elif link is not None:
        linked = stage_entries.left_join(link, stage_entries.record_id == link.from_id)
        linked = linked.mutate(_to=linked.to_id).drop("from_id", "to_id")
    else:
        return stage_entries.mutate(reached_at=ibis.null("timestamp"))
    nxt = events.filter(events.stage == next_stage).select(
        _nid=events.record_id, _nat=events.entered_at
    )
    condition = [linked._to == nxt._nid, nxt._nat >= linked.entered_at]
    if within_days is not None:
        seconds = round(within_days * SECONDS_PER_DAY)
        condition.append(nxt._nat <= linked.entered_at + ibis.interval(seconds=seconds))
    joined = linked.left_join(nxt, condition)
    keys = [c for c in stage_entries.columns if c != "stage"]
    return joined.group_by(keys).agg(reached_at=joined._nat.min())


def funnel_expr(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    by: Sequence[str] = (),
    period: str | None = None,
    basis: Basis = "cohort",
    within_days: float | None = None,
) -> ir.Table:
    """Build the per-stage aggregate as one Ibis expression (executed by :func:`funnel`)."""
    if basis not in ("cohort", "period"):
        raise MissionlineError(f"unknown basis {basis!r}; use cohort or period")
    dims = [resolve_dimension(name, schema, plan) for name in by]
    path = plan.lifecycle.path()
    events = tables["stage_events"]
    records = Records(tables)
    needs_owner = any(d.table in ("stage_events", "owners") for d in dims)
    group = [d.name for d in dims] + (["period"] if period else [])
    parts = []
    for i, stage in enumerate(path):
        # one small aggregate per stage: cheaper than one hash table over every event
        stage_entries = _entries(events, [stage.id], period, basis, needs_owner)
        if i + 1 < len(path):
            nxt = path[i + 1]
            link = None
            if nxt.record_type != stage.record_type:
                link = records.link(stage.record_type, nxt.record_type)
            reached = _reached(
                stage_entries,
                events,
                nxt.id,
                link,
                nxt.record_type == stage.record_type,
                within_days,
            )
        else:
            reached = stage_entries.mutate(reached_at=ibis.null("timestamp"))
        reached = records.attach(reached, stage.record_type, dims)
        days = seconds_between(reached.entered_at, reached.reached_at) / SECONDS_PER_DAY
        metrics = {
            "stage": ibis.literal(stage.id),
            "entries": reached.count(),
            "converted": count_true(reached.reached_at.notnull()),
            "median_days_to_next": quantile(days, 0.5),
            "p90_days_to_next": quantile(days, 0.9),
        }
        parts.append(
            reached.group_by(group).agg(**metrics) if group else reached.aggregate(**metrics)
        )
    return ibis.union(*parts)


def funnel(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    by: Sequence[str] = (),
    period: str | None = None,
    basis: Basis = "cohort",
    within_days: float | None = None,
) -> pd.DataFrame:
    """Return the funnel per stage in plan order, one row per stage and group."""
    expr = funnel_expr(tables, schema, plan, by, period, basis, within_days)
    raw = expr.to_pandas()
    group = [resolve_dimension(b, schema, plan).name for b in by] + (["period"] if period else [])
    stages = [s.id for s in plan.lifecycle.path()]
    return labelled(shape_funnel(raw, stages, group, basis), tables)


def shape_funnel(
    raw: pd.DataFrame, stages: list[str], group: list[str], basis: Basis
) -> pd.DataFrame:
    """Fill missing stages per group, compute the conversions, and order the rows."""
    raw = raw.copy()
    if "period" in group:
        raw["period"] = pd.to_datetime(raw["period"]).dt.date  # a calendar date, not a timestamp
    if group:
        combos = raw[group].drop_duplicates()
        grid = combos.merge(pd.DataFrame({"stage": stages}), how="cross")
    else:
        grid = pd.DataFrame({"stage": stages})
    out = grid.merge(raw, on=[*group, "stage"], how="left")
    out["entries"] = out["entries"].fillna(0).astype("int64")
    out["converted"] = out["converted"].fillna(0).astype("int64")
    out["_order"] = out["stage"].map({s: i for i, s in enumerate(stages)})
    out = out.sort_values([*group, "_order"], kind="stable").reset_index(drop=True)
    keys = [out[g] for g in group] if group else [np.zeros(len(out))]
    if basis == "period":
        nxt = out.groupby(keys, dropna=False)["entries"].shift(-1)
        conv = nxt / out["entries"].where(out["entries"] > 0)
    else:
        conv = out["converted"] / out["entries"].where(out["entries"] > 0)
    conv = conv.where(out["_order"] < len(stages) - 1)
    out["conversion_to_next"] = conv.astype("float64")
    out["cumulative_conversion"] = _cumulative(out["conversion_to_next"], out["_order"])
    for col in ("median_days_to_next", "p90_days_to_next"):
        out[col] = out[col].astype("float64")
    return out[[*COLUMNS, *group]]


def _cumulative(conversion: pd.Series, order: pd.Series) -> pd.Series:
    """Running product of the previous stages' conversions, restarting at each group's first stage.

    A missing conversion (no entries) makes every later cumulative value missing too.
    """
    values = []
    running = 1.0
    previous = 1.0
    for step, position in zip(conversion.to_numpy(), order.to_numpy(), strict=True):
        running = 1.0 if position == 0 else running * previous
        values.append(running)
        previous = step
    return pd.Series(values, index=conversion.index, dtype="float64")

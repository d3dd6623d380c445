"""Verification: did records meet their stage's entry rule when they entered it?

A rule reads the entering record's own columns and its account's (``accounts.x`` or, when the
record's table has no such column, plain ``x``). Attributes are the values stored now: the data
model keeps no history of attributes; ``days_since(...)`` counts to the moment of entry.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from missionline.data.schema import ENTITIES, Table
from missionline.metrics.periods import period_start
from missionline.metrics.portable import count_true
from missionline.metrics.records import Records, resolve_dimension
from missionline.plan.entry_columns import rule_tables
from missionline.plan.expressions import compile_rule, parse_rule, referenced_columns
from missionline.plan.models import Plan, Stage

SAMPLE = 5  # offending records listed per stage


def _with_attributes(
    entries: ir.Table, record_type: str, tables: dict[str, ir.Table], schema: dict[str, Table]
) -> tuple[ir.Table, dict[str, str]]:
    """Join the record's and its account's columns as ``table__column``; map rule names to them."""
    own_table, own_key = ENTITIES[record_type]
    names: dict[str, str] = {}
    joined = entries
    for table in rule_tables(record_type):
        source = tables[table]
        prefixed = source.select(
            **{f"{table}__{c.name}": source[c.name] for c in schema[table].all_columns}
        )
        if table == own_table:
            joined = joined.left_join(prefixed, joined.record_id == prefixed[f"{table}__{own_key}"])
        else:
            link = f"{own_table}__account_id"
            joined = joined.left_join(prefixed, joined[link] == prefixed["accounts__account_id"])
    for table in reversed(rule_tables(record_type)):
        for column in schema[table].all_columns:
            names[f"{table}.{column.name}"] = f"{table}__{column.name}"
            names[column.name] = f"{table}__{column.name}"
    return joined, names


def _checked_entries(
    tables: dict[str, ir.Table], schema: dict[str, Table], stage: Stage, needs_owner: bool
) -> ir.Table:
    """First entry per record into ``stage`` with ``meets`` (bool) from the entry rule."""
    assert stage.entry_rule is not None
    events = tables["stage_events"]
    events = events.filter(events.stage == stage.id)
    metrics = {"entered_at": events.entered_at.min()}
    if needs_owner:
        metrics["owner_id"] = events.owner_id.argmin(events.entered_at)
    entries = events.group_by("record_id").agg(**metrics)
    joined, names = _with_attributes(entries, stage.record_type, tables, schema)
    node = parse_rule(stage.entry_rule)
    columns = {name: joined[names[name]] for name in referenced_columns(node) if name in names}
    meets = compile_rule(node, columns, joined.entered_at)
    keep = ["record_id", "entered_at", *(["owner_id"] if needs_owner else [])]
    return joined.select(*keep, meets=meets)


def conformance(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    by: Sequence[str] = (),
    period: str | None = None,
) -> pd.DataFrame:
    """Per stage with an entry rule: entries, conforming entries and their share, by group."""
    dims = [resolve_dimension(name, schema, plan) for name in by]
    needs_owner = any(d.table in ("stage_events", "owners") for d in dims)
    records = Records(tables)
    group = [d.name for d in dims] + (["period"] if period else [])
    parts = []
    for stage in plan.lifecycle.stages:
        if not stage.entry_rule:
            continue
        checked = records.attach(
            _checked_entries(tables, schema, stage, needs_owner), stage.record_type, dims
        )
        if period:
            checked = checked.mutate(period=period_start(checked.entered_at, period))
        metrics = {
            "stage": ibis.literal(stage.id),
            "entries": checked.count(),
            "conforming": count_true(checked.meets),
        }
        parts.append(
            checked.group_by(group).agg(**metrics) if group else checked.aggregate(**metrics)
        )
    columns = ["stage", "rule", "entries", "conforming", "conformance", *group]
    if not parts:
        return pd.DataFrame(columns=columns)
    frame = ibis.union(*parts).to_pandas()
    rules = {s.id: s.entry_rule for s in plan.lifecycle.stages}
    frame["rule"] = frame["stage"].map(rules)
    frame["conforming"] = frame["conforming"].fillna(0).astype("int64")
    frame["conformance"] = frame["conforming"] / frame["entries"].where(frame["entries"] > 0)
    if period:
        frame["period"] = pd.to_datetime(frame["period"]).dt.date
    order = {s.id: i for i, s in enumerate(plan.lifecycle.stages)}
    frame = frame.sort_values(
        ["stage", *group], key=lambda s: s.map(order) if s.name == "stage" else s.astype(str)
    )
    return frame[columns].reset_index(drop=True)


def offenders(
    tables: dict[str, ir.Table], schema: dict[str, Table], plan: Plan, limit: int = SAMPLE
) -> pd.DataFrame:
    """A sample of records that entered a stage without meeting its rule (earliest first)."""
    parts = []
    for stage in plan.lifecycle.stages:
        if not stage.entry_rule:
            continue
        checked = _checked_entries(tables, schema, stage, needs_owner=True)
        bad = checked.filter(~checked.meets).order_by(["entered_at", "record_id"]).limit(limit)
        parts.append(
            bad.select(
                "record_id", "entered_at", "owner_id", stage=ibis.literal(stage.id)
            ).to_pandas()
        )
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return frame.reindex(columns=["stage", "record_id", "entered_at", "owner_id"])

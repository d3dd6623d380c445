"""The exit a record left by: its first exit event, ties at one instant broken by stage id, then
reason.

Leakage (the first move out of a stay) and the SLAs (the first exit after a hand-off) both need
it. Rather than sort each record's events (a window over a whole join), the aggregate that finds
the first move keeps the earliest time per exit stage (:func:`earliest_per_exit`);
:func:`first_exit_stage` then takes the stage whose earliest time is the first exit's, in stage
id order, and :func:`with_reason` looks the reason up for the rows that need it.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from missionline.plan.models import Plan


def exit_ids(plan: Plan, record_type: str) -> list[str]:
    """The exit stages of ``record_type``, sorted by id (the order that breaks ties)."""
    return sorted(s.id for s in plan.lifecycle.stages if s.exit and s.record_type == record_type)


def earliest_per_exit(
    at: ir.TimestampColumn, stage: ir.StringColumn, ids: Sequence[str]
) -> dict[str, ir.Value]:
    """Aggregates ``_x0``, ``_x1``, ...: the earliest ``at`` of each exit stage in ``ids``."""
    return {f"_x{i}": at.min(where=stage == x) for i, x in enumerate(ids)}


def first_exit_stage(rows: ir.Table, at: ir.TimestampValue, ids: Sequence[str]) -> ir.StringValue:
    """The first exit stage in ``ids`` whose earliest time (:func:`earliest_per_exit`, columns of
    ``rows``) is ``at``; null when none is."""
    if not ids:
        return ibis.null("string")
    return ibis.cases(*[(rows[f"_x{i}"] == at, x) for i, x in enumerate(ids)], else_=None)


def with_reason(
    events: ir.Table, rows: ir.Table, at: str, stage: str, ids: Sequence[str], name: str
) -> ir.Table:
    """``rows`` (a ``record_id``, an exit time ``at`` and exit stage ``stage``) with column
    ``name``: that exit event's reason (of several at that instant, the first by reason)."""
    ends = events.filter(events.stage.isin(list(ids)))
    found = ends.group_by(_rid=ends.record_id, _rat=ends.entered_at, _rst=ends.stage).agg(
        **{name: ends.reason.min()}
    )
    keys = [rows.record_id == found._rid, rows[at] == found._rat, rows[stage] == found._rst]
    return rows.left_join(found, keys).drop("_rid", "_rat", "_rst")

"""Open SLA breaches (``sla --open``): hand-offs still waiting beyond their SLA, by owner.

The definitions are in :mod:`missionline.metrics.sla`.
"""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.types as ir
import pandas as pd

from missionline.data.schema import Table
from missionline.metrics.handoffs import handoffs_expr, sla_specs
from missionline.metrics.portable import seconds_between
from missionline.plan.models import Plan

BREACH_COLUMNS = [
    "stage",
    "record_id",
    "owner_id",
    "owner_name",
    "team",
    "entered_at",
    "hours_waiting",
    "sla_hours",
]


def latest_timestamp(tables: dict[str, ir.Table]) -> datetime | None:
    """The latest stage entry or touch in the data: the moment the extract describes."""
    values = [
        tables["stage_events"].entered_at.max().to_pandas(),
        tables["touches"].at.max().to_pandas(),
    ]
    present = [pd.Timestamp(v) for v in values if v is not None and not pd.isna(v)]
    return max(present).to_pydatetime() if present else None


def open_breaches(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    as_of: datetime | None = None,
) -> pd.DataFrame:
    """Hand-offs still waiting at ``as_of`` beyond their SLA, by owner, longest wait first.

    A hand-off waits until it is answered, accepted, leaves through any exit stage, or the record
    is handed over again (the newer hand-off waits instead). ``as_of`` defaults to the latest
    timestamp in the data; hand-offs entered after it are ignored. It is overdue when it has
    waited strictly longer than its SLA.
    """
    del schema  # same signature as the other metrics; breaches have no dimensions
    moment = as_of if as_of is not None else latest_timestamp(tables)
    if moment is None:
        return pd.DataFrame(columns=BREACH_COLUMNS)
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is not None:  # the data are naive UTC
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    at = ibis.literal(stamp.to_pydatetime(), type="timestamp")

    def done(column: ir.TimestampValue) -> ir.BooleanValue:
        return column.notnull() & (column <= at)

    owners = tables["owners"]
    owners = owners.select(_oid=owners.owner_id, owner_name=owners.name, team=owners.team)
    parts = []
    for spec in sla_specs(plan):
        h = handoffs_expr(tables, plan, spec)
        waiting = h.filter(
            (h.entered_at <= at)
            & ~done(h.responded_at)
            & ~done(h.accepted_at)
            & ~done(h.exit_at)
            & ~done(h.next_at)
        )
        seconds = seconds_between(waiting.entered_at, at)
        waiting = waiting.mutate(_seconds=seconds)
        late = waiting.filter(waiting._seconds > round(spec.hours * 3600))
        late = late.left_join(owners, late.owner_id == owners._oid)
        parts.append(
            late.select(
                stage=ibis.literal(spec.stage),
                record_id=late.record_id,
                owner_id=late.owner_id,
                owner_name=late.owner_name,
                team=late.team,
                entered_at=late.entered_at,
                hours_waiting=late._seconds / 3600.0,
                sla_hours=ibis.literal(spec.hours),
            )
        )
    if not parts:
        return pd.DataFrame(columns=BREACH_COLUMNS)
    frame = ibis.union(*parts).to_pandas()
    frame["_name"] = frame["owner_name"].fillna(frame["owner_id"])
    frame["_stage"] = frame["stage"].map({s: i for i, s in enumerate(plan.stage_ids())})
    frame = frame.sort_values(
        ["_name", "owner_id", "hours_waiting", "_stage", "record_id"],
        ascending=[True, True, False, True, True],
        na_position="last",
        kind="stable",
    )
    return frame[BREACH_COLUMNS].reset_index(drop=True)

"""What the open pipeline is worth: the stage probabilities, each open deal's current stage,
and the bookings target coverage is measured against (definitions in
:mod:`missionline.metrics.pipeline`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from missionline.data.schema import Table
from missionline.metrics.library import metric_value
from missionline.metrics.pipeline_time import MONTHS, AsOf, resolve_as_of, timestamp
from missionline.metrics.portable import count_true
from missionline.plan.models import Objective, Plan, SuccessFactor


@dataclass(frozen=True)
class Target:
    """The bookings target coverage is measured against, and what is left of it at ``as_of``."""

    id: str
    metric: str
    target: float
    period_start: dt.date
    remaining: float


def bookings_target(tables: dict[str, ir.Table], plan: Plan, as_of: pd.Timestamp) -> Target | None:
    """The first success factor (else objective) measured by ``won_amount``, left at ``as_of``."""
    items: list[SuccessFactor | Objective] = [*plan.success_factors, *plan.objectives]
    item = next(
        (
            i
            for i in items
            if i.metric in plan.metrics and plan.metrics[i.metric].measure == "won_amount"
        ),
        None,
    )
    if item is None:
        return None
    if item.period == "horizon":
        if plan.mission is None:
            return None
        start = plan.mission.horizon.start
    else:
        months = MONTHS[item.period]
        index = ((as_of.year * 12 + as_of.month - 1) // months) * months
        start = dt.date(index // 12, index % 12 + 1, 1)
    done = metric_value(tables, plan, item.metric, start, as_of.to_pydatetime()) or 0.0
    return Target(item.id, item.metric, item.target, start, item.target - done)


def opportunity_stages(plan: Plan) -> list[str]:
    """The opportunity stages of the main path, in order."""
    return [s.id for s in plan.lifecycle.path() if s.record_type == "opportunity"]


def probabilities(tables: dict[str, ir.Table], plan: Plan, at: ir.TimestampScalar) -> ir.Table:
    """``(stage, closed, won, probability)`` per opportunity stage of the main path with closed
    deals that entered it before ``at``."""
    events = tables["stage_events"]
    entered = (
        events.filter(
            (events.record_type == "opportunity")
            & events.stage.isin(opportunity_stages(plan))
            & (events.entered_at < at)
        )
        .select(_rid=events.record_id, stage=events.stage)
        .distinct()
    )
    opps = tables["opportunities"]
    closed = opps.filter(
        opps.status.isin(["won", "lost"]) & opps.closed_at.notnull() & (opps.closed_at < at)
    ).select(_oid=opps.opportunity_id, _won=opps.status == "won")
    joined = entered.join(closed, entered._rid == closed._oid)
    counts = joined.group_by("stage").agg(closed=joined.count(), won=count_true(joined._won))
    return counts.mutate(probability=counts.won.cast("float64") / counts.closed.cast("float64"))


def stage_probabilities(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    as_of: AsOf = None,
) -> pd.DataFrame:
    """Per opportunity stage of the main path: closed deals that entered it, won, share won."""
    stages = opportunity_stages(plan)
    frame = pd.DataFrame({"stage": stages})
    if not stages:
        return frame.assign(closed=0, won=0, probability=pd.Series(dtype="float64"))
    at = timestamp(resolve_as_of(tables, as_of))
    counts = probabilities(tables, plan, at).drop("probability").to_pandas()
    frame = frame.merge(counts, on="stage", how="left")
    frame["closed"] = frame["closed"].fillna(0).astype("int64")
    frame["won"] = frame["won"].fillna(0).astype("int64")
    frame["probability"] = (frame["won"] / frame["closed"].where(frame["closed"] > 0)).astype(
        "float64"
    )
    return frame


def current_stage(tables: dict[str, ir.Table], plan: Plan, keys: ir.Table) -> ir.Table:
    """``(_rid, _csnap, _stage)``: each open deal's latest opportunity stage before the snapshot."""
    path = opportunity_stages(plan)
    events = tables["stage_events"]
    events = events.filter((events.record_type == "opportunity") & events.stage.isin(path)).select(
        _rid=events.record_id, _stage=events.stage, _at=events.entered_at
    )
    joined = keys.join(events, [keys.record_id == events._rid, events._at < keys._snap])
    order = joined._stage.substitute({s: i for i, s in enumerate(path)}, else_=-1)
    window = ibis.window(
        group_by=[joined._rid, joined._snap], order_by=[ibis.desc(joined._at), ibis.desc(order)]
    )
    ranked = joined.mutate(_n=ibis.row_number().over(window))
    ranked = ranked.filter(ranked._n == 0)
    return ranked.select("_rid", "_stage", _csnap=ranked._snap)


def weighted(
    tables: dict[str, ir.Table], plan: Plan, opened: ir.Table, at: ir.TimestampScalar
) -> ir.Table:
    """The open deals (``record_id`` at snapshot ``_snap``) with ``_probability``: that of their
    current stage (the first opportunity stage when none), null without closed history."""
    stages = opportunity_stages(plan)
    if not stages:
        return opened.mutate(_probability=ibis.null("float64"))
    current = current_stage(tables, plan, opened.select("record_id", "_snap").distinct())
    opened = opened.left_join(
        current, [opened.record_id == current._rid, opened._snap == current._csnap]
    ).drop("_rid", "_csnap")
    opened = opened.mutate(_stage=opened._stage.fill_null(stages[0]))
    known = probabilities(tables, plan, at)
    known = known.select(_pstage=known.stage, _probability=known.probability)
    return opened.left_join(known, opened._stage == known._pstage).drop("_pstage", "_stage")

"""Hand-offs and their service levels: response time, SLA compliance, acceptance and rejection.

Every stage with an ``sla`` in the plan is measured. Definitions:

* A *hand-off* is one entry of a record into the SLA's ``measured_from`` stage (default: the
  stage that carries the SLA). Every entry counts, not only the first: a recycled lead that
  becomes an MQL again is handed over again and is owed a new response. Rows of one record at
  the same instant are one hand-off. ``handed_over`` counts hand-offs.
* A hand-off's *window* runs from its entry up to, not including, the record's next entry into
  the same stage: what happens after that answers the later hand-off, not this one.
* The *response*: with ``until: first_sales_touch``, the first touch with function ``sales`` at
  or after the entry, within the window. A person's touches are those with its
  ``touches.person_id``; an account's, its ``touches.account_id``; an opportunity's, the touches
  of its person (``opportunities.person_id``) or of its account (``opportunities.account_id``),
  because sales work on a deal is logged against either (at an account with several open deals,
  one account touch answers each of them). A touch before the hand-off does not answer it. With
  ``until: <stage>``, the response is the first entry into that stage at or after the hand-off,
  within the window, following the record to linked records of another type as the funnel does
  (a person to the opportunities whose ``person_id`` it is).
* Response hours are **calendar hours**: business hours, weekends and holidays are not used, so
  a lead handed over on Friday evening and answered on Monday morning waited about 60 hours.
* ``within_sla``: answered, and the response came at most the SLA's ``within`` after the entry
  (inclusive; 24h, 2d, 1w are 24, 48, 168 hours). ``share_within_sla`` = within_sla ÷
  handed_over: hand-offs **never answered count as not within**, including recent ones whose
  clock still runs at the end of the data (``open_breaches`` lists those that are overdue).
* ``median_hours`` / ``p90_hours``: over answered hand-offs only (linear interpolation).
* ``accepted``: the record entered, within the window, the next main-path stage after
  ``measured_from`` (mql → sal), or a later main-path stage of that same record type (a lead
  that skipped sal and went straight to sql was taken by sales too). When the next stage holds
  another record type, linked records are followed (sql → the person's opportunity). A stage
  with no next main-path stage has ``accepted`` 0 and no ``acceptance_rate``.
* ``rejected``: the first exit-stage event of the record within the window (ordered by time,
  then stage id, then reason) is a ``disqualified`` or ``recycled`` exit, and the hand-off was
  not accepted at or before it. ``rejections`` breaks them down by exit stage and reason (a
  missing reason reads ``unspecified``); rates are shares of the hand-offs.
* ``open_breaches``: hand-offs still waiting at ``as_of`` (default: the latest stage entry or
  touch in the data) and waiting strictly longer than their SLA. A hand-off stops waiting when
  it is answered, accepted, leaves through any exit stage (lost included), or the record is
  handed over again; the owner is the hand-off entry's, with ``owners.name`` and ``team``.
* Rows: one per SLA stage and group with at least one hand-off (a team that never receives a
  stage's hand-offs gets no row for it); without ``by`` and ``period`` an SLA stage with no
  hand-offs still gets a row, with zero counts and no rates.
* Dimensions describe the hand-off: ``owner`` is the owner of the hand-off entry
  (``stage_events.owner_id``), ``team`` that owner's ``owners.team``, record attributes come
  from the hand-off record, and ``period`` is the period of the hand-off's entry.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from missionline.data.schema import Table
from missionline.metrics.batch import one_query
from missionline.metrics.exits import exit_ids, with_reason
from missionline.metrics.handoffs import (
    FIRST_SALES_TOUCH,
    SlaSpec,
    handoffs_expr,
    sla_hours,
    sla_specs,
)
from missionline.metrics.periods import period_start
from missionline.metrics.portable import count_true, labelled, quantile
from missionline.metrics.records import Records, resolve_dimension
from missionline.metrics.sla_open import BREACH_COLUMNS, latest_timestamp, open_breaches
from missionline.metrics.stays import needs_owner
from missionline.plan.models import Plan

# the hand-off and open-breach names, importable from here as before the split
__all__ = [
    "BREACH_COLUMNS",
    "FIRST_SALES_TOUCH",
    "SlaSpec",
    "handoffs_expr",
    "latest_timestamp",
    "open_breaches",
    "rejections",
    "sla",
    "sla_hours",
    "sla_specs",
]
UNSPECIFIED = "unspecified"
# fmt: off
SLA_COLUMNS = [
    "stage", "measured_from", "until", "sla_hours", "handed_over", "answered", "within_sla",
    "share_within_sla", "median_hours", "p90_hours", "accepted", "acceptance_rate", "rejected",
    "rejection_rate",
]
# fmt: on
COUNTS = ["handed_over", "answered", "within_sla", "accepted", "rejected"]
REJECTION_COLUMNS = ["stage", "exit_stage", "reason", "rejected", "handed_over", "rejection_rate"]


def _stage_handoffs(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    by: Sequence[str],
    period: str | None,
) -> tuple[list[str], list[tuple[SlaSpec, ir.Table]]]:
    """The group columns, and each SLA with its hand-offs carrying the dimensions and period."""
    dims = [resolve_dimension(name, schema, plan) for name in by]
    group = [d.name for d in dims] + (["period"] if period else [])
    records = Records(tables)
    out = []
    for spec in sla_specs(plan):
        handoffs = handoffs_expr(tables, plan, spec, needs_owner(dims))
        handoffs = records.attach(handoffs, spec.source.record_type, dims)
        if period:
            handoffs = handoffs.mutate(period=period_start(handoffs.entered_at, period))
        out.append((spec, handoffs))
    return group, out


def _aggregate(handoffs: ir.Table, group: list[str], **metrics: ir.Value) -> ir.Table:
    return handoffs.group_by(group).agg(**metrics) if group else handoffs.aggregate(**metrics)


def _dates(frame: pd.DataFrame, group: list[str]) -> pd.DataFrame:
    if "period" in group:
        frame["period"] = pd.to_datetime(frame["period"]).dt.date  # a calendar date
    return frame


def sla(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    by: Sequence[str] = (),
    period: str | None = None,
) -> pd.DataFrame:
    """Per stage with an SLA: hand-offs, response times, share within SLA, acceptance, rejection."""
    group, stage_handoffs = _stage_handoffs(tables, schema, plan, by, period)
    parts = []
    for spec, h in stage_handoffs:
        metrics = {
            "stage": ibis.literal(spec.stage),
            "handed_over": h.count(),
            "answered": count_true(h.responded_at.notnull()),
            "within_sla": count_true(h.within),
            "median_hours": quantile(h.hours, 0.5),
            "p90_hours": quantile(h.hours, 0.9),
            "accepted": count_true(h.accepted_at.notnull()),
            "rejected": count_true(h.rejected),
        }
        parts.append(_aggregate(h, group, **metrics))
    if not parts:
        return pd.DataFrame(columns=[*SLA_COLUMNS, *group])
    out = _dates(ibis.union(*parts).to_pandas(), group)
    for column in COUNTS:
        out[column] = out[column].fillna(0).astype("int64")
    by_stage = {spec.stage: spec for spec, _ in stage_handoffs}
    out["measured_from"] = out["stage"].map(lambda s: by_stage[s].source.id)
    out["until"] = out["stage"].map(lambda s: by_stage[s].until)
    out["sla_hours"] = out["stage"].map(lambda s: by_stage[s].hours).astype("float64")
    handed = out["handed_over"].where(out["handed_over"] > 0)
    out["share_within_sla"] = (out["within_sla"] / handed).astype("float64")
    out["rejection_rate"] = (out["rejected"] / handed).astype("float64")
    has_next = out["stage"].map(lambda s: bool(by_stage[s].accept))
    out["acceptance_rate"] = (out["accepted"] / handed).where(has_next).astype("float64")
    for column in ("median_hours", "p90_hours"):
        out[column] = out[column].astype("float64")
    return labelled(_ordered(out, list(by_stage), group)[[*SLA_COLUMNS, *group]], tables)


def _ordered(frame: pd.DataFrame, stages: list[str], group: list[str]) -> pd.DataFrame:
    """Sort by stage in plan order, then by the group values (missing values last)."""
    order = {s: i for i, s in enumerate(stages)}
    frame = frame.sort_values(
        ["stage", *group],
        key=lambda s: s.map(order) if s.name == "stage" else s.where(s.isna(), s.astype(str)),
        na_position="last",
        kind="stable",
    )
    return frame.reset_index(drop=True)


def rejections(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    by: Sequence[str] = (),
    period: str | None = None,
) -> pd.DataFrame:
    """Rejected hand-offs per SLA stage, exit stage and reason, with their share of hand-offs."""
    group, stage_handoffs = _stage_handoffs(tables, schema, plan, by, period)
    counts, totals = [], []
    for spec, h in stage_handoffs:
        label = {"stage": ibis.literal(spec.stage)}
        totals.append(_aggregate(h, group, **label, handed_over=h.count()))
        r = with_reason(
            tables["stage_events"],
            h.filter(h.rejected),
            "exit_at",
            "exit_stage",
            exit_ids(plan, spec.source.record_type),
            "reason",
        )
        r = r.mutate(reason=r.reason.fill_null(UNSPECIFIED))
        counts.append(r.group_by([*group, "exit_stage", "reason"]).agg(**label, rejected=r.count()))
    if not counts:
        return pd.DataFrame(columns=REJECTION_COLUMNS)
    rejected, handed = (_dates(frame, group) for frame in one_query(counts, totals))
    out = rejected.merge(handed, on=["stage", *group], how="left")
    out["rejected"] = out["rejected"].astype("int64")
    out["handed_over"] = out["handed_over"].astype("int64")
    out["rejection_rate"] = (out["rejected"] / out["handed_over"]).astype("float64")
    stages = [spec.stage for spec, _ in stage_handoffs]
    out = _ordered(out, stages, [*group, "exit_stage", "reason"])
    return out[[*REJECTION_COLUMNS, *group]]

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
from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir
import pandas as pd

from missionline.data.schema import Table
from missionline.errors import MissionlineError
from missionline.metrics.periods import period_start
from missionline.metrics.portable import count_true, labelled, quantile, seconds_between
from missionline.metrics.records import Records, resolve_dimension
from missionline.plan.models import Plan, Stage

FIRST_SALES_TOUCH = "first_sales_touch"
SALES_FUNCTION = "sales"
REJECTION_EXITS = ("disqualified", "recycled")
UNSPECIFIED = "unspecified"
HOURS = {"h": 1.0, "d": 24.0, "w": 168.0}
# fmt: off
SLA_COLUMNS = [
    "stage", "measured_from", "until", "sla_hours", "handed_over", "answered", "within_sla",
    "share_within_sla", "median_hours", "p90_hours", "accepted", "acceptance_rate", "rejected",
    "rejection_rate",
]
COUNTS = ["handed_over", "answered", "within_sla", "accepted", "rejected"]
REJECTION_COLUMNS = ["stage", "exit_stage", "reason", "rejected", "handed_over", "rejection_rate"]
BREACH_COLUMNS = [
    "stage", "record_id", "owner_id", "owner_name", "team", "entered_at", "hours_waiting",
    "sla_hours",
]
# fmt: on


@dataclass(frozen=True)
class SlaSpec:
    """One stage's SLA, resolved against the plan."""

    stage: str
    source: Stage  # the measured_from stage: its entries are the hand-offs
    until: str
    hours: float
    accept: tuple[str, ...]  # main-path stages whose entry means the hand-off was accepted
    accept_type: str | None


def sla_hours(within: str) -> float:
    """Parse an SLA duration such as ``24h``, ``2d`` or ``1w`` into hours."""
    text = within.strip().lower()
    try:
        return float(text[:-1]) * HOURS[text[-1]]
    except (KeyError, ValueError, IndexError):
        message = f"invalid SLA duration {within!r}; write e.g. 24h, 2d or 1w"
        raise MissionlineError(message) from None


def sla_specs(plan: Plan) -> list[SlaSpec]:
    """Return the plan's SLAs in stage order, with their hand-off and acceptance stages."""
    lifecycle = plan.lifecycle
    path = lifecycle.path()
    specs = []
    for stage in lifecycle.stages:
        if stage.sla is None:
            continue
        ends = [stage.sla.measured_from or stage.id]
        if stage.sla.until != FIRST_SALES_TOUCH:
            ends.append(stage.sla.until)
        try:
            source, *_ = [lifecycle.stage(s) for s in ends]
        except KeyError as exc:
            raise MissionlineError(
                f"the SLA of stage {stage.id!r} names an unknown stage {exc.args[0]!r}"
            ) from None
        later = path[path.index(source) + 1 :] if source in path else []
        accept_type = later[0].record_type if later else None
        accept: list[str] = []
        for s in later:  # the next stage and the later ones of its record type, until it changes
            if s.record_type != accept_type:
                break
            accept.append(s.id)
        hours = sla_hours(stage.sla.within)
        specs.append(SlaSpec(stage.id, source, stage.sla.until, hours, tuple(accept), accept_type))
    return specs


def _linked_entries(
    tables: dict[str, ir.Table], source_type: str, stage_ids: Sequence[str], target_type: str
) -> ir.Table | None:
    """``(_rid, _at)``: entries into ``stage_ids`` by the record or by its linked records."""
    events = tables["stage_events"]
    events = events.filter(events.stage.isin(list(stage_ids)))
    entries = events.select(_to=events.record_id, _at=events.entered_at)
    if source_type == target_type:
        return entries.select(_rid=entries._to, _at=entries._at)
    link = Records(tables).link(source_type, target_type)
    if link is None:
        return None
    joined = link.join(entries, link.to_id == entries._to)
    return joined.select(_rid=joined.from_id, _at=joined._at)


def _sales_touches(tables: dict[str, ir.Table], record_type: str) -> ir.Table:
    """``(_rid, _at)``: the sales touches that can answer a record of this type."""
    touches = tables["touches"]
    touches = touches.filter(touches.function == SALES_FUNCTION)
    if record_type in ("person", "account"):
        column = touches.person_id if record_type == "person" else touches.account_id
        touches = touches.filter(column.notnull())
        return touches.select(_rid=column, _at=touches.at)
    opps = tables["opportunities"]
    opps = opps.select(_rid=opps.opportunity_id, _p=opps.person_id, _a=opps.account_id)
    contacts = touches.select(_tp=touches.person_id, _ta=touches.account_id, _at=touches.at)
    by_person = opps.join(contacts, opps._p == contacts._tp).select("_rid", "_at")
    by_account = opps.join(contacts, opps._a == contacts._ta).select("_rid", "_at")
    return by_person.union(by_account, distinct=False)


def _in_window(handoffs: ir.Table, candidates: ir.Table) -> ir.Table:
    """Join candidate events to hand-offs: same record, at or after the entry, in the window."""
    h = handoffs.select(_hid=handoffs.record_id, _hat=handoffs.entered_at, _hnext=handoffs.next_at)
    return h.join(
        candidates,
        [
            h._hid == candidates._rid,
            candidates._at >= h._hat,
            h._hnext.isnull() | (candidates._at < h._hnext),
        ],
    )


def _first_after(handoffs: ir.Table, candidates: ir.Table | None, name: str) -> ir.Table:
    """Add column ``name``: the first candidate time in each hand-off's window (null if none)."""
    if candidates is None:
        return handoffs.mutate(**{name: ibis.null("timestamp")})
    joined = _in_window(handoffs, candidates)
    return _join_back(handoffs, joined.group_by(["_hid", "_hat"]).agg(**{name: joined._at.min()}))


def _join_back(handoffs: ir.Table, found: ir.Table) -> ir.Table:
    """Left-join per-hand-off results (keyed by ``_hid``, ``_hat``) to the hand-offs."""
    keys = [handoffs.record_id == found._hid, handoffs.entered_at == found._hat]
    return handoffs.left_join(found, keys).drop("_hid", "_hat")


def _first_exit(handoffs: ir.Table, events: ir.Table, plan: Plan, record_type: str) -> ir.Table:
    """Add ``exit_at``, ``exit_stage`` and ``reason``: the first exit event in the window."""
    exits = [s.id for s in plan.lifecycle.stages if s.exit and s.record_type == record_type]
    ev = events.filter(events.stage.isin(exits))
    ev = ev.select(_rid=ev.record_id, _at=ev.entered_at, _stage=ev.stage, _reason=ev.reason)
    joined = _in_window(handoffs, ev)
    order = ibis.window(group_by=[joined._hid, joined._hat], order_by=["_at", "_stage", "_reason"])
    ranked = joined.mutate(_rn=ibis.row_number().over(order))
    first = ranked.filter(ranked._rn == 0).select(
        "_hid", "_hat", exit_at=ranked._at, exit_stage=ranked._stage, reason=ranked._reason
    )
    return _join_back(handoffs, first)


def handoffs_expr(tables: dict[str, ir.Table], plan: Plan, spec: SlaSpec) -> ir.Table:
    """One row per hand-off of ``spec``: its entry, owner, window, response, acceptance, exit."""
    events = tables["stage_events"]
    source = events.filter(events.stage == spec.source.id)
    handoffs = source.group_by(["record_id", "entered_at"]).agg(owner_id=source.owner_id.min())
    window = ibis.window(group_by=handoffs.record_id, order_by=handoffs.entered_at)
    handoffs = handoffs.mutate(next_at=handoffs.entered_at.lead().over(window))
    rtype = spec.source.record_type
    if spec.until == FIRST_SALES_TOUCH:
        answers: ir.Table | None = _sales_touches(tables, rtype)
    else:
        until_type = plan.lifecycle.stage(spec.until).record_type
        answers = _linked_entries(tables, rtype, [spec.until], until_type)
    handoffs = _first_after(handoffs, answers, "responded_at")
    accepts = None
    if spec.accept and spec.accept_type is not None:
        accepts = _linked_entries(tables, rtype, spec.accept, spec.accept_type)
    handoffs = _first_after(handoffs, accepts, "accepted_at")
    handoffs = _first_exit(handoffs, events, plan, rtype)
    seconds = seconds_between(handoffs.entered_at, handoffs.responded_at)
    rejection_exits = [
        s.id for s in plan.lifecycle.stages if s.exit in REJECTION_EXITS and s.record_type == rtype
    ]
    rejected = (
        handoffs.exit_at.notnull()
        & handoffs.exit_stage.isin(rejection_exits)
        & (handoffs.accepted_at.isnull() | (handoffs.accepted_at > handoffs.exit_at))
    )
    return handoffs.mutate(
        hours=seconds / 3600.0,
        # compared in whole seconds so that an answer exactly at the limit is within it
        within=(seconds <= round(spec.hours * 3600)).fill_null(False),
        rejected=rejected.fill_null(False),
        reason=handoffs.reason.fill_null(UNSPECIFIED),
    )


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
        handoffs = records.attach(handoffs_expr(tables, plan, spec), spec.source.record_type, dims)
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
        r = h.filter(h.rejected)
        counts.append(r.group_by([*group, "exit_stage", "reason"]).agg(**label, rejected=r.count()))
    if not counts:
        return pd.DataFrame(columns=REJECTION_COLUMNS)
    rejected = _dates(ibis.union(*counts).to_pandas(), group)
    handed = _dates(ibis.union(*totals).to_pandas(), group)
    out = rejected.merge(handed, on=["stage", *group], how="left")
    out["rejected"] = out["rejected"].astype("int64")
    out["handed_over"] = out["handed_over"].astype("int64")
    out["rejection_rate"] = (out["rejected"] / out["handed_over"]).astype("float64")
    stages = [spec.stage for spec, _ in stage_handoffs]
    out = _ordered(out, stages, [*group, "exit_stage", "reason"])
    return out[[*REJECTION_COLUMNS, *group]]


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

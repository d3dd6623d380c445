"""The hand-offs an SLA measures: each entry into its stage with its window, response,
acceptance and first exit (the definitions are in :mod:`missionline.metrics.sla`).

One timeline per SLA holds the events that answer, accept or end a hand-off, tagged by kind;
one join of the hand-offs with it and one aggregate of minima find each hand-off's first of
each kind (three joins back, and a sort of the exits, took far longer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir

from missionline.errors import MissionlineError
from missionline.metrics.exits import earliest_per_exit, exit_ids, first_exit_stage
from missionline.metrics.portable import seconds_between
from missionline.metrics.records import Records
from missionline.plan.models import Plan, Stage

FIRST_SALES_TOUCH = "first_sales_touch"
SALES_FUNCTION = "sales"
REJECTION_EXITS = ("disqualified", "recycled")
HOURS = {"h": 1.0, "d": 24.0, "w": 168.0}
ANSWER, ACCEPT, EXIT = 0, 1, 2  # the kinds of events on a hand-off's timeline
NEVER = ibis.literal(datetime(9999, 12, 31), "timestamp")


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


def _timeline(tables: dict[str, ir.Table], plan: Plan, spec: SlaSpec) -> ir.Table:
    """``(_rid, _at, _kind, _stage)``: the events that answer (``ANSWER``), accept (``ACCEPT``)
    or end (``EXIT``, with the exit stage as ``_stage``) a hand-off of ``spec``, by its record."""
    rtype = spec.source.record_type
    if spec.until == FIRST_SALES_TOUCH:
        answers: ir.Table | None = _sales_touches(tables, rtype)
    else:
        until_type = plan.lifecycle.stage(spec.until).record_type
        answers = _linked_entries(tables, rtype, [spec.until], until_type)
    accepts = None
    if spec.accept and spec.accept_type is not None:
        accepts = _linked_entries(tables, rtype, spec.accept, spec.accept_type)
    events = tables["stage_events"]
    ends = events.filter(events.stage.isin(exit_ids(plan, rtype)))
    parts = [
        ends.select(
            _rid=ends.record_id,
            _at=ends.entered_at,
            _kind=ibis.literal(EXIT, "int8"),
            _stage=ends.stage,
        )
    ]
    for kind, rows in ((ANSWER, answers), (ACCEPT, accepts)):
        if rows is not None:
            parts.append(
                rows.select(
                    "_rid", "_at", _kind=ibis.literal(kind, "int8"), _stage=ibis.null("string")
                )
            )
    return ibis.union(*parts)


def handoffs_expr(
    tables: dict[str, ir.Table], plan: Plan, spec: SlaSpec, owner: bool = True
) -> ir.Table:
    """One row per hand-off of ``spec``: its entry (``record_id``, ``entered_at`` and, with
    ``owner``, ``owner_id``), the window's end ``next_at``, ``responded_at``, ``accepted_at``,
    the first exit's ``exit_at`` and ``exit_stage``, response ``hours``, ``within`` and
    ``rejected``."""
    events = tables["stage_events"]
    source = events.filter(events.stage == spec.source.id)
    if owner:
        handoffs = source.group_by(["record_id", "entered_at"]).agg(owner_id=source.owner_id.min())
    else:
        handoffs = source.select("record_id", "entered_at").distinct()
    window = ibis.window(group_by=handoffs.record_id, order_by=handoffs.entered_at)
    handoffs = handoffs.mutate(next_at=handoffs.entered_at.lead().over(window))
    # the last hand-off's window never closes: a far end, as a condition with "or next_at is
    # null" made DuckDB fall back to a nested-loop join
    ends = handoffs.mutate(_end=handoffs.next_at.fill_null(NEVER))
    timeline = _timeline(tables, plan, spec)
    joined = ends.left_join(
        timeline,
        [
            ends.record_id == timeline._rid,
            timeline._at >= ends.entered_at,
            timeline._at < ends._end,
        ],
    )
    rtype = spec.source.record_type
    ids = exit_ids(plan, rtype)
    found = joined.group_by(list(handoffs.columns)).agg(
        responded_at=joined._at.min(where=joined._kind == ANSWER),
        accepted_at=joined._at.min(where=joined._kind == ACCEPT),
        exit_at=joined._at.min(where=joined._kind == EXIT),
        **earliest_per_exit(joined._at, joined._stage, ids),
    )
    seconds = seconds_between(found.entered_at, found.responded_at)
    exit_stage = first_exit_stage(found, found.exit_at, ids)
    rejection_exits = [
        s.id for s in plan.lifecycle.stages if s.exit in REJECTION_EXITS and s.record_type == rtype
    ]
    rejected = (
        found.exit_at.notnull()
        & exit_stage.isin(rejection_exits)
        & (found.accepted_at.isnull() | (found.accepted_at > found.exit_at))
    )
    return found.select(
        *handoffs.columns,
        "responded_at",
        "accepted_at",
        "exit_at",
        exit_stage=exit_stage,
        hours=seconds / 3600.0,
        # compared in whole seconds so that an answer exactly at the limit is within it
        within=(seconds <= round(spec.hours * 3600)).fill_null(False),
        rejected=rejected.fill_null(False),
    )

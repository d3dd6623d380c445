"""The engine side of an experiment: per-variant sums of each unit's outcome (Ibis).

Definitions (also in docs/experiments.md):

* A **unit** is an ``assignments`` row of the experiment with ``at`` at or before the as-of
  moment; a unit without ``at`` counts from the experiment's start (midnight UTC).
* A unit is **analysed** once its window ``[at, at + within)`` has closed by the as-of moment;
  the others are **pending** (they count in the sample-ratio check, not in the outcome).
* **Conversion** outcome: 1 when the unit (or, for a stage of another record type, a record
  linked to it: a person's opportunities, an opportunity's account, ...) entered the metric's
  stage within the window ``[at, at + within)``, else 0.
* **Value** outcome: ``won_amount`` sums the amounts of won opportunities closed within the
  window whose ``person_id`` / ``account_id`` / ``opportunity_id`` is the unit; ``revenue`` sums
  the unit account's revenue rows dated within the window (churn and contraction count
  negative). No such row: 0.
* **Covariate** (CUPED): a numeric column of the unit's table (missing values take the mean of
  the units that have one), or the metric itself over ``[at - pre_period, at)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import ibis
import ibis.expr.types as ir
import pandas as pd

from missionline.data.schema import ENTITIES, Table
from missionline.errors import MissionlineError
from missionline.metrics.periods import parse_duration_days
from missionline.metrics.pipeline import resolve_as_of
from missionline.metrics.records import Records
from missionline.plan.models import Plan
from missionline.plan.models_experiments import Experiment

SECONDS_PER_DAY = 86400.0
SUM_COLUMNS = [
    "variant",
    "assigned",
    "units",
    "total",
    "total_squares",
    "nonzero",
    "x_total",
    "x_total_squares",
    "xy_total",
]
# An outcome over the window [at + from, at + to) of each unit: (units, from, to) -> (unit_id, _y).
Outcome = Callable[[ir.Table, ir.Value, ir.Value], ir.Table]


def _seconds(days: float) -> ir.IntervalValue:
    """An Ibis interval of ``days`` days, in whole seconds."""
    return ibis.interval(seconds=round(days * SECONDS_PER_DAY))


def find_experiment(plan: Plan, experiment_id: str) -> Experiment:
    """Return the plan's experiment with this id, or say which ids exist."""
    for experiment in plan.experiments:
        if experiment.id == experiment_id:
            return experiment
    known = ", ".join(e.id for e in plan.experiments) or "none declared"
    raise MissionlineError(f"unknown experiment {experiment_id!r}; the plan's experiments: {known}")


def units_of(tables: dict[str, ir.Table], experiment: Experiment, as_of: pd.Timestamp) -> ir.Table:
    """The experiment's assigned units up to ``as_of``: unit_id, variant and effective ``at``."""
    a = tables["assignments"]
    start = ibis.literal(dt.datetime.combine(experiment.start, dt.time()), "timestamp")
    a = a.filter(a.experiment_id == experiment.id).select(
        "unit_id", "variant", at=ibis.coalesce(a.at, start)
    )
    return a.filter(a.at <= ibis.literal(as_of.to_pydatetime(), "timestamp"))


def _conversion(tables: dict[str, ir.Table], plan: Plan, experiment: Experiment) -> Outcome:
    """Outcome builder: 1 when a linked record entered the stage within the window."""
    stage_id = experiment.metric.conversion
    assert stage_id is not None
    record_type = plan.lifecycle.stage(stage_id).record_type
    link = None
    if record_type != experiment.unit:
        link = Records(tables).link(experiment.unit, record_type)
        if link is None:
            raise MissionlineError(
                f"experiment {experiment.id!r}: no link from {experiment.unit} records to the "
                f"{record_type} records of stage {stage_id!r}"
            )
    events = tables["stage_events"]
    events = events.filter(events.stage == stage_id).select(
        _rid=events.record_id, _t=events.entered_at
    )

    def outcome(units: ir.Table, lo: ir.Value, hi: ir.Value) -> ir.Table:
        if link is None:
            targets = units.mutate(_rid=units.unit_id)
        else:
            targets = units.join(link, units.unit_id == link.from_id).select(
                "unit_id", "at", _rid=link.to_id
            )
        hits = targets.join(
            events,
            [
                targets._rid == events._rid,
                events._t >= targets.at + lo,
                events._t < targets.at + hi,
            ],
        )
        hit = hits.select("unit_id").distinct().mutate(_y=ibis.literal(1.0))
        joined = units.left_join(hit, units.unit_id == hit.unit_id)
        return joined.select(units.unit_id, _y=joined._y.fill_null(0.0))

    return outcome


def _value(tables: dict[str, ir.Table], experiment: Experiment) -> Outcome:
    """Outcome builder: the won amount or revenue of the unit within the window."""
    if experiment.metric.value == "revenue":
        rows = tables["revenue"]
        rows = rows.select(_k=rows.account_id, _t=rows.at, _v=rows.amount)
    else:
        opps = tables["opportunities"]
        won = opps.filter((opps.status == "won") & opps.closed_at.notnull())
        key = ENTITIES[experiment.unit][1]
        rows = won.select(_k=won[key], _t=won.closed_at, _v=won.amount.fill_null(0.0))

    def outcome(units: ir.Table, lo: ir.Value, hi: ir.Value) -> ir.Table:
        hits = units.join(
            rows, [units.unit_id == rows._k, rows._t >= units.at + lo, rows._t < units.at + hi]
        )
        sums = hits.group_by(_u=hits.unit_id).agg(_s=hits._v.sum())
        joined = units.left_join(sums, units.unit_id == sums._u)
        return joined.select(units.unit_id, _y=joined._s.cast("float64").fill_null(0.0))

    return outcome


def _column_covariate(
    tables: dict[str, ir.Table], schema: dict[str, Table], experiment: Experiment, column: str
) -> ir.Table:
    """(unit_id, _x): the unit's own numeric column, missing values filled with the mean."""
    name, key = ENTITIES[experiment.unit]
    if column not in schema[name].names():
        raise MissionlineError(
            f"experiment {experiment.id!r}: covariate {column!r} is not a column of {name}"
        )
    table = tables[name]
    return table.select(unit_id=table[key], _x=table[column].cast("float64"))


def unit_outcomes(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    experiment: Experiment,
    as_of: pd.Timestamp,
) -> ir.Table:
    """Per unit: variant, ``_analysed`` (window closed), outcome ``_y``, covariate ``_x``."""
    units = units_of(tables, experiment, as_of)
    within = parse_duration_days(experiment.metric.within)
    if experiment.metric.kind == "conversion":
        outcome = _conversion(tables, plan, experiment)
    else:
        outcome = _value(tables, experiment)
    zero = _seconds(0)
    y = outcome(units, zero, _seconds(within))
    rows = units.join(y, "unit_id")
    closed = rows.at + _seconds(within) <= ibis.literal(as_of.to_pydatetime(), "timestamp")
    rows = rows.mutate(_analysed=closed)
    covariate = experiment.covariate
    if covariate is None:
        return rows.mutate(_x=ibis.null("float64"))
    if covariate.column is not None:
        x = _column_covariate(tables, schema, experiment, covariate.column)
        joined = rows.left_join(x, rows.unit_id == x.unit_id)
        rows = joined.select(*[joined[c] for c in rows.columns], _x=joined._x)
    else:
        assert covariate.pre_period is not None
        pre = _seconds(-parse_duration_days(covariate.pre_period))
        x = outcome(units, pre, zero).rename(_x="_y")
        rows = rows.join(x, "unit_id")
    mean_x = rows._x.mean(where=rows._analysed).as_scalar()
    return rows.mutate(_x=rows._x.fill_null(mean_x))


def variant_sums(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    experiment: Experiment,
    as_of: pd.Timestamp,
) -> pd.DataFrame:
    """Per variant: assigned and analysed units, outcome and covariate sums (one query)."""
    rows = unit_outcomes(tables, schema, plan, experiment, as_of)
    done = rows._analysed
    y, x = rows._y, rows._x
    frame = (
        rows.group_by("variant")
        .agg(
            assigned=rows.count(),
            units=done.sum(),
            total=y.sum(where=done),
            total_squares=(y * y).sum(where=done),
            nonzero=(y != 0).sum(where=done),
            x_total=x.sum(where=done),
            x_total_squares=(x * x).sum(where=done),
            xy_total=(x * y).sum(where=done),
        )
        .to_pandas()
    )
    return frame[SUM_COLUMNS]


def traffic_per_day(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    experiment: Experiment | str | None = None,
    stage: str | None = None,
    days: int = 28,
    as_of: pd.Timestamp | None = None,
) -> float:
    """Units per day: the experiment's assignments over its run, or entries into a stage.

    With ``experiment``: its assignments from its start to its end (or ``as_of`` if earlier)
    divided by those days. Otherwise: distinct records entering ``stage`` (default: the first
    main-path stage) per day over the ``days`` days before ``as_of`` (default: the data's end).
    """
    moment = resolve_as_of(tables, as_of)
    if experiment is not None:
        exp = find_experiment(plan, experiment) if isinstance(experiment, str) else experiment
        end = min(pd.Timestamp(exp.end) + pd.Timedelta(days=1), moment)
        span = (end - pd.Timestamp(exp.start)).total_seconds() / SECONDS_PER_DAY
        count = units_of(tables, exp, end).count().execute()
        return float(count) / span if span > 0 else 0.0
    stage_id = stage or plan.lifecycle.path()[0].id
    if stage_id not in plan.stage_ids():
        raise MissionlineError(
            f"unknown stage {stage_id!r}; use one of {', '.join(plan.stage_ids())}"
        )
    events = tables["stage_events"]
    start = moment - pd.Timedelta(days=days)
    recent = events.filter(
        (events.stage == stage_id)
        & (events.entered_at >= ibis.literal(start.to_pydatetime(), "timestamp"))
        & (events.entered_at < ibis.literal(moment.to_pydatetime(), "timestamp"))
    )
    return float(recent.record_id.nunique().execute()) / days

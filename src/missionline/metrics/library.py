"""The metric library: each plan metric (a measure with filters) evaluated over a time window.

Every value is one Ibis aggregate in the engine. Windows are half-open: [start, end).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import ibis
import ibis.expr.types as ir

from missionline.metrics.portable import count_true
from missionline.metrics.records import Records
from missionline.plan.models import MetricDefinition, Plan

Tables = dict[str, ir.Table]


def _in_window(column: ir.TimestampValue, start: dt.date, end: dt.date) -> ir.BooleanValue:
    return (column >= ibis.timestamp(str(start))) & (column < ibis.timestamp(str(end)))


def _account_filter(
    tables: Tables, table: ir.Table, account_column: ir.StringValue, metric: MetricDefinition
) -> ir.Table:
    """Keep rows whose account is in the metric's segment and market (when given)."""
    if metric.segment is None and metric.market is None:
        return table
    accounts = tables["accounts"]
    keep = accounts
    if metric.segment is not None:
        keep = keep.filter(keep.segment == metric.segment)
    if metric.market is not None:
        keep = keep.filter(keep.market == metric.market)
    return table.filter(account_column.isin(keep.account_id))


def _entries(
    tables: Tables, plan: Plan, metric: MetricDefinition, start: dt.date, end: dt.date
) -> ir.Scalar:
    """Distinct records entering the stage in the window (filtered by channel and account)."""
    if metric.stage is None:
        raise ValueError("an entries metric needs a stage")
    events = tables["stage_events"]
    events = events.filter(
        (events.stage == metric.stage) & _in_window(events.entered_at, start, end)
    )
    record_type = plan.lifecycle.stage(metric.stage).record_type
    records = Records(tables)
    if metric.channel is not None:
        people = tables["people"].filter(tables["people"].source_channel == metric.channel)
        if record_type == "person":
            events = events.filter(events.record_id.isin(people.person_id))
        elif record_type == "account":
            events = events.filter(events.record_id.isin(people.account_id))
        elif (link := records.link("opportunity", "person", many=False)) is not None:
            events = events.filter(
                events.record_id.isin(link.filter(link.to_id.isin(people.person_id)).from_id)
            )
    if metric.segment is not None or metric.market is not None:
        if record_type == "account":
            events = _account_filter(tables, events, events.record_id, metric)
        elif (link := records.link(record_type, "account", many=False)) is not None:
            with_account = events.left_join(link, events.record_id == link.from_id)
            events = _account_filter(tables, with_account, with_account.to_id, metric)
    return events.record_id.nunique()


def _won(tables: Tables, metric: MetricDefinition, start: dt.date, end: dt.date) -> ir.Table:
    opportunities = tables["opportunities"]
    won = opportunities.filter(
        (opportunities.status == "won") & _in_window(opportunities.closed_at, start, end)
    )
    if metric.kind is not None:
        won = won.filter(won.kind == metric.kind)
    return _account_filter(tables, won, won.account_id, metric)


def _win_rate(
    tables: Tables, plan: Plan, metric: MetricDefinition, start: dt.date, end: dt.date
) -> ir.Scalar:
    opportunities = tables["opportunities"]
    closed = opportunities.filter(
        opportunities.status.isin(["won", "lost"]) & _in_window(opportunities.closed_at, start, end)
    )
    if metric.kind is not None:
        closed = closed.filter(closed.kind == metric.kind)
    closed = _account_filter(tables, closed, closed.account_id, metric)
    won = count_true(closed.status == "won").cast("float64")
    return won / closed.count().nullif(0).cast("float64")


def _spend(
    tables: Tables, plan: Plan, metric: MetricDefinition, start: dt.date, end: dt.date
) -> ir.Scalar:
    spend = tables["spend"]
    spend = spend.filter(_in_window(spend.period_start, start, end))
    if metric.function is not None:
        spend = spend.filter(spend.function == metric.function)
    if metric.channel is not None:
        spend = spend.filter(spend.channel == metric.channel)
    return spend.amount.sum()


def _revenue(
    tables: Tables, plan: Plan, metric: MetricDefinition, start: dt.date, end: dt.date
) -> ir.Scalar:
    revenue = tables["revenue"]
    revenue = revenue.filter(_in_window(revenue.at, start, end))
    if metric.kind is not None:
        revenue = revenue.filter(revenue.kind == metric.kind)
    revenue = _account_filter(tables, revenue, revenue.account_id, metric)
    return revenue.amount.sum()


def _pipeline(
    tables: Tables, plan: Plan, metric: MetricDefinition, start: dt.date, end: dt.date
) -> ir.Scalar:
    opportunities = tables["opportunities"]
    created = opportunities.filter(_in_window(opportunities.created_at, start, end))
    if metric.kind is not None:
        created = created.filter(created.kind == metric.kind)
    return _account_filter(tables, created, created.account_id, metric).amount.sum()


def _conversion(
    tables: Tables, plan: Plan, metric: MetricDefinition, start: dt.date, end: dt.date
) -> float | None:
    """Period-basis conversion: entries into the next stage ÷ entries into this stage."""
    path = [s.id for s in plan.lifecycle.path()]
    if metric.stage not in path or path.index(metric.stage) + 1 >= len(path):
        raise ValueError(f"conversion needs a main-path stage with a next stage: {metric.stage}")
    nxt = metric.model_copy(update={"stage": path[path.index(metric.stage) + 1]})
    # two queries: Ibis cannot divide scalars that come from separate relations
    entered = _entries(tables, plan, metric, start, end).execute()
    reached = _entries(tables, plan, nxt, start, end).execute()
    return float(reached) / float(entered) if entered else None


Measure = Callable[[Tables, Plan, MetricDefinition, dt.date, dt.date], "ir.Scalar | float | None"]
MEASURES: dict[str, Measure] = {
    "entries": _entries,
    "conversion": _conversion,
    "won_amount": lambda t, p, m, s, e: _won(t, m, s, e).amount.sum(),
    "won_count": lambda t, p, m, s, e: _won(t, m, s, e).count(),
    "win_rate": _win_rate,
    "spend": _spend,
    "revenue": _revenue,
    "pipeline_created": _pipeline,
}


def metric_value(
    tables: Tables, plan: Plan, name: str, start: dt.date, end: dt.date
) -> float | None:
    """Evaluate the plan metric ``name`` over [start, end); None when nothing was measured."""
    metric = plan.metrics[name]
    value = MEASURES[metric.measure](tables, plan, metric, start, end)
    if isinstance(value, ir.Scalar):
        value = value.execute()
    return None if value is None or value != value else float(value)

"""Report sections of the top-down cascade: the needs per month, pacing, capacity."""

from __future__ import annotations

import weakref

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from missionline.alignment.mission_map import format_value
from missionline.cli.output import records
from missionline.planning.capacity import capacity_check
from missionline.planning.cascade import combined, whole
from missionline.planning.ladder import horizon
from missionline.planning.pacing import PacingResult, pacing
from missionline.report.charts import PALETTE
from missionline.report.section import Section, figure_html
from missionline.workspace import Workspace

LAYOUT = {
    "height": 400,
    "template": "plotly_white",
    "margin": {"l": 70, "r": 40, "t": 50, "b": 40},
    "legend": {"orientation": "h", "y": -0.15},
}
# The three sections share one measurement of the history per workspace.
_RESULTS: weakref.WeakKeyDictionary[Workspace, PacingResult | None] = weakref.WeakKeyDictionary()


def _result(ws: Workspace) -> PacingResult | None:
    """Pacing (with the monthly cascade behind it) once per workspace; None without factors."""
    if ws not in _RESULTS:
        tables = ws.tables()
        empty = not tables["stage_events"].count().execute()
        has = any(
            f.metric in ws.plan.metrics
            and ws.plan.metrics[f.metric].measure in ("won_amount", "won_count")
            for f in ws.plan.success_factors
        )
        usable = has and not empty and ws.plan.mission is not None
        _RESULTS[ws] = pacing(tables, ws.schema, ws.plan, draws=1000) if usable else None
    return _RESULTS[ws]


def _needs_chart(months: pd.DataFrame, start: pd.Timestamp) -> go.Figure:
    """Entries needed per month at each ladder stage (every factor at once), log scale."""
    figure = go.Figure()
    for i, stage in enumerate(months.columns):
        figure.add_scatter(
            name=stage,
            x=months.index,
            y=months[stage],
            mode="lines",
            line={"color": PALETTE[i % len(PALETTE)]},
        )
    figure.add_vline(x=start, line={"dash": "dot", "color": "#888"})
    figure.update_layout(
        title="Entries needed per month to meet every success factor (dotted: horizon start)",
        yaxis={"type": "log", "title": "entries needed"},
        **LAYOUT,
    )
    return figure


def cascade_section(ws: Workspace) -> Section | None:
    """The reverse waterfall: entries each stage needs per month, by function, with sources."""
    result = _result(ws)
    if result is None:
        return None
    cascade = result.cascade
    stages = list(cascade.runs[0].required)
    daily = pd.DataFrame({s: combined(cascade, s) for s in stages}, index=cascade.days)
    months = daily.resample("MS").sum()
    months = months[(months >= 0.5).any(axis=1)]
    start = pd.Timestamp(horizon(ws.plan).start)
    first = cascade.runs[0]
    quarters = cascade.required[cascade.required["success_factor"] == first.factor.id]
    quarters = quarters.assign(quarter=pd.PeriodIndex(quarters["period"], freq="Q").start_time)
    table = quarters.pivot_table(index="quarter", columns="stage", values="required", aggfunc="sum")
    table = table[stages].map(whole).reset_index()
    table["quarter"] = table["quarter"].dt.date
    inside = months[months.index >= start]
    early = months[months.index < start]
    top, bottom = stages[0], stages[-1]
    reading = (
        f"To meet every cascadable success factor the ladder needs about "
        f"{whole(inside[top].mean()):,} {top} and {whole(inside[bottom].mean()):,} {bottom} "
        f"entries per month on average over the horizon"
    )
    if len(early):
        reading += (
            f"; because of the lags, {whole(early[top].sum()):,} {top} entries were already "
            f"needed before the horizon began"
        )
    reading += f". The table shows {first.factor.id} per quarter (rounded up)."
    return Section(
        "cascade",
        "Top-down cascade",
        reading,
        [figure_html(_needs_chart(months, start))],
        list(table.columns),
        records(table),
    )


def _projection_chart(result: PacingResult) -> go.Figure:
    """The first factor's period: cumulative target, actual, and the projection band."""
    projection = result.projections[0]
    frame = projection.months
    x = [str(m) for m in frame["month_end"]]
    figure = go.Figure()
    figure.add_scatter(
        name="80% interval (low)",
        x=x,
        y=frame["low"],
        mode="lines",
        line={"width": 0},
        showlegend=False,
    )
    figure.add_scatter(
        name="80% interval",
        x=x,
        y=frame["high"],
        mode="lines",
        line={"width": 0},
        fill="tonexty",
        fillcolor="rgba(46,134,193,0.2)",
    )
    figure.add_scatter(
        name="projected",
        x=x,
        y=frame["expected"],
        mode="lines+markers",
        line={"color": PALETTE[1], "dash": "dash"},
    )
    figure.add_scatter(
        name="actual", x=x, y=frame["actual"], mode="lines+markers", line={"color": PALETTE[0]}
    )
    figure.add_scatter(
        name="target", x=x, y=frame["target"], mode="lines", line={"color": PALETTE[4]}
    )
    figure.update_layout(
        title=f"{projection.success_factor}: cumulative value by month end, "
        f"{projection.period_start} to {projection.period_end}",
        **LAYOUT,
    )
    return figure


def _pace_chart(rows: pd.DataFrame) -> go.Figure:
    """Pace (actual ÷ required) per month at each ladder stage of the first factor."""
    figure = go.Figure()
    for i, (stage, part) in enumerate(rows.groupby("stage", sort=False)):
        figure.add_scatter(
            name=str(stage),
            x=[str(p) for p in part["period"]],
            y=part["pace"],
            mode="lines",
            line={"color": PALETTE[i % len(PALETTE)]},
        )
    figure.add_hline(y=1.0, line={"dash": "dot", "color": "#888"})
    figure.update_layout(
        title="Pace per month: actual entries ÷ entries needed",
        yaxis={"tickformat": ".0%"},
        **LAYOUT,
    )
    return figure


def pacing_section(ws: Workspace) -> Section | None:
    """Actual against the cascade's needs to date, and each success factor's projection."""
    result = _result(ws)
    if result is None or not result.projections:
        return None
    first = result.projections[0]
    rows = result.rows[result.rows["success_factor"] == first.success_factor]
    recent = rows[rows["period"].isin(sorted(set(rows["period"]))[-3:])]
    sums = recent.groupby("stage", sort=False)[["actual", "required"]].sum()
    pace = (sums["actual"] / sums["required"].where(sums["required"] > 0)).dropna()
    reading = (
        f"As of {result.as_of:%Y-%m-%d}, {first.success_factor} is projected at "
        f"{format_value(first.expected, None)} against a target of "
        f"{format_value(first.target, None)} for {first.period_start} to {first.period_end} "
        f"({first.attainment:.0%}; 80% interval {first.attainment_low:.0%} to "
        f"{first.attainment_high:.0%})."
    )
    if len(pace):
        reading += (
            f" Over the last three months {pace.idxmin()} entries ran at {pace.min():.0%} of "
            "the pace "
            "the cascade needs (the lowest of the ladder)."
        )
    table = pd.DataFrame(
        [{k: v for k, v in vars(p).items() if k != "months"} for p in result.projections]
    )
    charts = [figure_html(_projection_chart(result)), figure_html(_pace_chart(rows))]
    return Section(
        "pacing", "Pacing and projection", reading, charts, list(table.columns), records(table)
    )


def _capacity_chart(frame: pd.DataFrame) -> go.Figure:
    """Open deals the plan needs, actual open deals and sales capacity per month."""
    x = [str(p) for p in frame["period"]]
    figure = go.Figure()
    figure.add_bar(name="open deals needed", x=x, y=frame["required_open"], marker_color=PALETTE[1])
    figure.add_scatter(
        name="actual open deals",
        x=x,
        y=frame["open_deals"],
        mode="lines+markers",
        line={"color": PALETTE[0]},
    )
    figure.add_scatter(
        name="sales capacity",
        x=x,
        y=frame["sales_capacity"],
        mode="lines",
        line={"color": PALETTE[4], "dash": "dash"},
    )
    figure.add_scatter(
        name="MQLs needed",
        x=x,
        y=frame["required_mqls"],
        yaxis="y2",
        mode="lines",
        line={"color": PALETTE[3]},
    )
    figure.add_scatter(
        name="MQLs the budget funds",
        x=x,
        y=frame["fundable_mqls"],
        yaxis="y2",
        mode="lines",
        line={"color": PALETTE[3], "dash": "dot"},
    )
    figure.update_layout(
        title="Capacity against demand: open deals (left), MQLs (right)",
        yaxis={"title": "open deals"},
        yaxis2={"overlaying": "y", "side": "right", "title": "MQLs per month"},
        **LAYOUT,
    )
    return figure


def capacity_section(ws: Workspace) -> Section | None:
    """Sales capacity and marketing budget against the cascade's demand, per month."""
    result = _result(ws)
    if result is None:
        return None
    frame = capacity_check(ws.tables(), ws.schema, ws.plan, result.as_of, result=result.cascade)
    if frame.empty:
        return None
    scarce = frame[frame["resource_scarcity"]]
    idle = frame[frame["opportunity_scarcity"]]
    counts = scarce["scarce"].str.split(", ").explode().value_counts()
    parts = [f"{n} months short of {what}" for what, n in counts.items()]
    reading = (
        f"Of {len(frame)} months in the horizon, {len(scarce)} show resource scarcity"
        + (f" ({'; '.join(parts)})" if parts else "")
        + f" and {len(idle)} opportunity scarcity (open deals below "
        "half the sales capacity)."
    )
    use = frame["capacity_use"].dropna()
    if len(use):
        reading += f" The plan keeps reps at {np.median(use):.0%} of capacity in a median month."
    return Section(
        "capacity",
        "Capacity against demand",
        reading,
        [figure_html(_capacity_chart(frame))],
        list(frame.columns),
        records(frame),
    )

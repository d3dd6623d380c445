"""Report sections about the revenue process: the pipeline, and the inputs behind each stage."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from missionline.alignment.mission_map import format_value
from missionline.cli.output import records
from missionline.metrics.inputs import efficiency, inputs
from missionline.metrics.pipeline import bookings_target, pipeline, resolve_as_of
from missionline.report.charts import PALETTE
from missionline.report.section import Section, figure_html
from missionline.workspace import Workspace

LAYOUT = {
    "height": 380,
    "template": "plotly_white",
    "margin": {"l": 70, "r": 70, "t": 50, "b": 40},
    "legend": {"orientation": "h", "y": -0.15},
}


def _pipeline_chart(by_quarter: pd.DataFrame) -> go.Figure:
    """Open and weighted pipeline at each quarter end (bars) and the quarter's win rate (line)."""
    x = [str(p) for p in by_quarter["period"]]
    figure = go.Figure()
    figure.add_bar(name="open pipeline", x=x, y=by_quarter["open_amount"], marker_color=PALETTE[1])
    figure.add_bar(
        name="weighted pipeline", x=x, y=by_quarter["weighted_pipeline"], marker_color=PALETTE[0]
    )
    figure.add_scatter(
        name="win rate", x=x, y=by_quarter["win_rate"], yaxis="y2", marker_color=PALETTE[3]
    )
    figure.update_layout(
        title="Pipeline at each quarter end, and win rate of the quarter's closes",
        barmode="group",
        yaxis={"title": "amount"},
        yaxis2={"overlaying": "y", "side": "right", "tickformat": ".0%", "rangemode": "tozero"},
        **LAYOUT,
    )
    return figure


def _segment_chart(by_segment: pd.DataFrame) -> go.Figure:
    """Win rate per segment, labelled with the median won deal and the median cycle."""
    rows = by_segment.dropna(subset=["win_rate"])
    labels = [
        f"{format_value(d, None)} · {c:.0f} d" if pd.notna(d) and pd.notna(c) else ""
        for d, c in zip(rows["median_deal_size"], rows["median_cycle_days"], strict=True)
    ]
    figure = go.Figure(
        go.Bar(
            x=[str(s) if pd.notna(s) else "(none)" for s in rows["segment"]],
            y=rows["win_rate"],
            text=labels,
            marker_color=PALETTE[2],
        )
    )
    figure.update_layout(
        title="Win rate by segment (labels: median won deal · median cycle)",
        yaxis={"tickformat": ".0%"},
        **LAYOUT,
    )
    return figure


def _pipeline_reading(ws: Workspace, overall: pd.Series, by_segment: pd.DataFrame) -> str:
    """Two sentences: the closed-deal numbers, then the open pipeline and its coverage."""
    closed = int(overall["won"] + overall["lost"])
    if closed:
        text = (
            f"Win rate is {overall['win_rate']:.1%} over {closed:,} closed deals "
            f"(median won deal {format_value(overall['median_deal_size'], None)}, "
            f"median cycle {overall['median_cycle_days']:.0f} days)."
        )
    else:
        text = "No deal has closed yet."
    rates = by_segment.dropna(subset=["win_rate", "segment"])
    if len(rates) > 1:
        ordered = rates.sort_values("win_rate")
        low, high = ordered.iloc[0], ordered.iloc[-1]
        text += (
            f" It is lowest in {low['segment']} ({low['win_rate']:.1%}) and highest in "
            f"{high['segment']} ({high['win_rate']:.1%})."
        )
    text += (
        f" Open pipeline of {format_value(overall['open_amount'], None)} in "
        f"{int(overall['open_count']):,} deals weighs "
        f"{format_value(overall['weighted_pipeline'], None)} at measured stage probabilities"
    )
    target = bookings_target(ws.tables(), ws.plan, resolve_as_of(ws.tables()))
    if target is not None and pd.notna(overall["coverage"]):
        text += (
            f" and covers {overall['coverage']:.1f} times what remains of the {target.id} target"
        )
    return text + "."


def pipeline_section(ws: Workspace) -> Section | None:
    """Win rate, deal size, cycle, open and weighted pipeline and coverage, by segment."""
    tables, schema, plan = ws.tables(), ws.schema, ws.plan
    if not tables["opportunities"].count().execute():
        return None
    overall = pipeline(tables, schema, plan).iloc[0]
    by_quarter = pipeline(tables, schema, plan, period="quarter")
    by_segment = pipeline(tables, schema, plan, by=["segment"])
    charts = [figure_html(_pipeline_chart(by_quarter)), figure_html(_segment_chart(by_segment))]
    return Section(
        "pipeline",
        "Pipeline",
        _pipeline_reading(ws, overall, by_segment),
        charts,
        list(by_segment.columns),
        records(by_segment),
    )


def _cost_chart(frame: pd.DataFrame, stages: list[str]) -> go.Figure:
    """Cost per entry by channel, one bar per stage (log scale: a win costs more than a lead)."""
    figure = go.Figure()
    attributed = frame.dropna(subset=["channel"])
    for i, stage in enumerate(stages):
        rows = attributed[attributed["stage"] == stage]
        figure.add_bar(
            name=stage,
            x=rows["channel"],
            y=rows["cost_per_entry"],
            marker_color=PALETTE[i % len(PALETTE)],
        )
    figure.update_layout(
        title="Cost per stage entry by source channel",
        barmode="group",
        yaxis={"type": "log", "title": "spend ÷ entries"},
        **LAYOUT,
    )
    return figure


def _efficiency_chart(eff: pd.DataFrame) -> go.Figure:
    """CAC per quarter (bars) and the magic number (line)."""
    x = [str(p) for p in eff["period"]]
    figure = go.Figure()
    figure.add_bar(name="CAC", x=x, y=eff["cac"], marker_color=PALETTE[1])
    figure.add_scatter(
        name="magic number", x=x, y=eff["magic_number"], yaxis="y2", marker_color=PALETTE[4]
    )
    figure.update_layout(
        title="Customer acquisition cost and magic number per quarter",
        yaxis={"title": "CAC"},
        yaxis2={"overlaying": "y", "side": "right", "title": "magic number"},
        **LAYOUT,
    )
    return figure


def _inputs_reading(
    ws: Workspace, frame: pd.DataFrame, stage: str | None, eff: pd.DataFrame
) -> str:
    """Two sentences: the spread of cost per entry across channels, then CAC and magic number."""
    text = "No spend is attributed to a channel yet."
    if stage is not None:
        rows = frame[(frame["stage"] == stage) & (frame["spend"] > 0)].dropna(
            subset=["cost_per_entry", "channel"]
        )
        ordered = rows.sort_values("cost_per_entry")
        low, high = ordered.iloc[0], ordered.iloc[-1]
        text = (
            f"Among channels with spend, the cost per entry into "
            f"{ws.plan.lifecycle.stage(stage).name.lower()} ranges from "
            f"{format_value(low['cost_per_entry'], None)} ({low['channel']}) to "
            f"{format_value(high['cost_per_entry'], None)} ({high['channel']})."
        )
    as_of = resolve_as_of(ws.tables())
    ended = eff[[pd.Timestamp(p) + pd.DateOffset(months=3) <= as_of for p in eff["period"]]]
    last = ended.iloc[-1] if len(ended) else (eff.iloc[-1] if len(eff) else None)
    if last is not None and pd.notna(last["cac"]):
        text += f" In the quarter from {last['period']}, CAC was {format_value(last['cac'], None)}"
        if pd.notna(last["magic_number"]):
            text += f" and the magic number {last['magic_number']:.1f}"
        text += "."
    return text


def inputs_section(ws: Workspace) -> Section | None:
    """Cost per stage entry by channel, CAC and magic number per quarter."""
    tables, schema, plan = ws.tables(), ws.schema, ws.plan
    if not (tables["spend"].count().execute() or tables["touches"].count().execute()):
        return None
    frame = inputs(tables, schema, plan, by=["channel"])
    eff = efficiency(tables, schema, plan, "quarter")
    costed = frame[(frame["spend"] > 0)].dropna(subset=["cost_per_entry", "channel"])
    stages = [s for s in dict.fromkeys(frame["stage"]) if s in set(costed["stage"])]
    charts = [figure_html(_cost_chart(frame, stages))]
    if len(eff):
        charts.append(figure_html(_efficiency_chart(eff)))
    table = frame.pivot_table(
        index="channel", columns="stage", values="cost_per_entry", dropna=False, sort=False
    )
    table = table.reindex(columns=stages).add_prefix("cost_per_")
    totals = frame.drop_duplicates("channel").set_index("channel")[
        ["spend", "touches", "sales_activities"]
    ]
    table = totals.join(table).reset_index()
    reading = _inputs_reading(ws, frame, stages[-1] if stages else None, eff)
    return Section(
        "inputs", "Inputs and cost per stage", reading, charts, list(table.columns), records(table)
    )

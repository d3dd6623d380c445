"""Report sections on the flow through the pipeline: velocity and leakage, with their charts."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from missionline.cli.output import records
from missionline.metrics.leakage import EXIT_KINDS, leakage
from missionline.metrics.velocity import time_to_won, velocity
from missionline.report.charts import PALETTE
from missionline.report.section import Section, figure_html
from missionline.workspace import Workspace

OUTCOMES = ("advanced", *EXIT_KINDS, "open")
OUTCOME_COLORS = dict(
    zip(OUTCOMES, [PALETTE[2], PALETTE[4], PALETTE[5], PALETTE[3], "#bbb"], strict=True)
)
LAYOUT = {
    "template": "plotly_white",
    "height": 380,
    "margin": {"l": 110, "r": 30, "t": 50, "b": 40},
}


def velocity_chart(frame: pd.DataFrame, title: str = "Time in stage") -> go.Figure:
    """Draw the median days per stage as bars with a whisker up to the p90 (box style)."""
    figure = go.Figure(
        go.Bar(
            x=frame["stage"],
            y=frame["median_days"],
            name="median",
            marker_color=PALETTE[1],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": (frame["p90_days"] - frame["median_days"]).clip(lower=0),
                "arrayminus": [0] * len(frame),
                "color": PALETTE[0],
            },
            customdata=frame[["p90_days", "exited"]],
            hovertemplate="%{x}: median %{y:.1f} days, p90 %{customdata[0]:.1f} "
            "(%{customdata[1]:,} stays)<extra></extra>",
        )
    )
    figure.update_layout(title=title, yaxis_title="days in stage (bar: median, whisker: p90)")
    figure.update_layout(**LAYOUT)
    return figure


def leakage_chart(frame: pd.DataFrame, title: str = "Where each stage's records went") -> go.Figure:
    """Draw, per stage, the shares that advanced, left to each exit or are still open."""
    figure = go.Figure()
    total = frame["records"].where(frame["records"] > 0)
    for outcome in OUTCOMES:
        figure.add_bar(
            name=outcome,
            y=frame["stage"],
            x=frame[outcome] / total,
            orientation="h",
            marker_color=OUTCOME_COLORS[outcome],
            customdata=frame[outcome],
            hovertemplate=f"%{{y}}: {outcome} %{{x:.1%}} (%{{customdata:,}})<extra></extra>",
        )
    figure.update_layout(title=title, barmode="stack", xaxis_tickformat=".0%")
    figure.update_layout(**LAYOUT)
    figure.update_yaxes(autorange="reversed")  # the first stage on top, like a funnel
    return figure


def velocity_reading(frame: pd.DataFrame, won: pd.DataFrame) -> str:
    """One or two sentences a reader can take away from the velocity frame."""
    timed = frame.dropna(subset=["median_days"])
    if timed.empty:
        return "No record has left a pipeline stage yet: import stage events to see velocity."
    slow = timed.sort_values("median_days", ascending=False).iloc[0]
    text = (
        f"Records spend longest in {slow['stage']}: a median {slow['median_days']:.1f} days, "
        f"and one in ten more than {slow['p90_days']:.0f}."
    )
    stuck = int(frame["stalled"].sum())
    if stuck:
        worst = frame.sort_values("stalled", ascending=False).iloc[0]
        text += (
            f" {stuck:,} records are stalled beyond their stage's threshold, "
            f"{int(worst['stalled']):,} of them in {worst['stage']}."
        )
    if len(won) and won["records"].iloc[0] > 0:
        row = won.iloc[0]
        text += (
            f" Won deals took a median {row['median_days']:.0f} days from the start of "
            "their journey."
        )
    return text


def leakage_reading(frame: pd.DataFrame) -> str:
    """One or two sentences a reader can take away from the leakage frame."""
    rated = frame.dropna(subset=["leakage_rate"])
    rated = rated[rated["records"] > 0]
    if rated.empty:
        return "No stage entries yet: import stage events to see where records leave."
    worst = rated.sort_values("leakage_rate", ascending=False).iloc[0]
    kind = max(EXIT_KINDS, key=lambda k: int(worst[k]))
    text = (
        f"The biggest leak is {worst['stage']}: {worst['leakage_rate']:.0%} of its "
        f"{int(worst['records']):,} records left the path, mostly {kind} "
        f"({int(worst[kind]) / worst['records']:.0%})."
    )
    recycled = int(frame["recycled"].sum())
    if recycled:
        back = int(frame["reentered"].sum())
        text += f" Of {recycled:,} recycled records, {back / recycled:.0%} came back"
        medians = frame.dropna(subset=["reentry_median_days"])
        if len(medians):
            top = medians.sort_values("reentered", ascending=False).iloc[0]
            text += f" (from {top['stage']}, after a median {top['reentry_median_days']:.0f} days)"
        text += "."
    return text


def velocity_section(ws: Workspace) -> Section | None:
    """Time in stage per pipeline stage, stalled records, and time to won."""
    tables, schema, plan = ws.tables(), ws.schema, ws.plan
    frame = velocity(tables, schema, plan)
    if not frame["records"].sum():
        return None
    won = time_to_won(tables, schema, plan)
    charts = [figure_html(velocity_chart(frame, f"{plan.company}: days in stage"))]
    return Section(
        "velocity",
        "Velocity",
        velocity_reading(frame, won),
        charts,
        list(frame.columns),
        records(frame),
    )


def leakage_section(ws: Workspace) -> Section | None:
    """Where each pipeline stage leaks to, and how many recycled records come back."""
    tables, schema, plan = ws.tables(), ws.schema, ws.plan
    frame = leakage(tables, schema, plan)
    if not frame["records"].sum():
        return None
    charts = [figure_html(leakage_chart(frame, f"{plan.company}: where each stage's records went"))]
    return Section(
        "leakage",
        "Leakage and recycle",
        leakage_reading(frame),
        charts,
        list(frame.columns),
        records(frame),
    )
